"""Painting a video: frames stream from the reader through the painting library (the
same painting.Painter that paints images) into the writer, one at a time, so memory
does not grow with the length of the video.

Two hooks let temporal methods join in without copying the loop:
- frame_painter (FramePainter): paints one frame, default painter.paint; a method
  that keeps state across frames (e.g. smoothed norm statistics) replaces it;
- filters (FrameFilter): each takes (frame, painted) and returns the painted frame,
  in order, after painting (e.g. blending in the previous output along the flow).
Both get reset() before the first frame (and may be reset at shot cuts by a caller).
"""
import dataclasses
import os
import sys
import time as time_lib
from typing import Protocol

from absl import logging

from painting import files as painting_files
from painting import images as painting_images
from painting import painter as painter_lib
from painting.errors import UsageError
from video import io as video_io
from video import keyframes as keyframes_lib


class FramePainter(Protocol):
    """Paints one frame: (painter, Frame, FusionPlan) -> float32 [H, W, 3]."""

    def reset(self): ...

    def __call__(self, painter, frame, plan): ...


class FrameFilter(Protocol):
    """Changes one painted frame: (Frame, painted [H, W, 3]) -> painted."""

    def reset(self): ...

    def __call__(self, frame, painted): ...


class PerFrame:
    """The default FramePainter: each frame painted on its own, as an image."""

    def reset(self):
        pass

    def __call__(self, painter, frame, plan):
        return painter.paint(frame.image, plan)


@dataclasses.dataclass
class VideoResult:
    """What paint_video wrote: the output path, frames painted, painting speed (frames
    per second, decoding and encoding included), the encoder, and where a damaged
    input stopped (None when it decoded to its end)."""
    path: str
    frames: int
    fps: float
    codec: str
    truncation: str = None


class Progress:
    """'frame 12/250 | 4.3 fps | ETA 0:00:54' on stderr: rewritten in place on a
    terminal, a line every `every` seconds otherwise."""

    def __init__(self, total, stream=None, every=5.0):
        self.total, self.stream = total, stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.every = 0.5 if self.interactive else every
        self.started = self.shown = time_lib.monotonic()

    def update(self, done, final=False):
        now = time_lib.monotonic()
        if not final and now - self.shown < self.every:
            return
        self.shown = now
        fps = done / max(now - self.started, 1e-9)
        text = f"frame {done}" + (f"/{self.total}" if self.total else "")
        text += f" | {fps:.2f} fps"
        if self.total and not final:
            seconds = int(max(self.total - done, 0) / max(fps, 1e-9))
            text += f" | ETA {seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        end = "\n" if final or not self.interactive else ""
        self.stream.write(("\r" if self.interactive else "") + text + end)
        self.stream.flush()


# Content files read as videos (anything else FFmpeg decodes works too when the
# output is a video file).
VIDEO_INPUT_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg",
                          ".mpeg", ".ts", ".flv", ".wmv", ".ogv", ".3gp")


def is_video_job(content, output):
    """True when a stylize run paints a video: the content is a video file, or the
    output is one (a folder of frames then reads as a video)."""
    return (os.path.splitext(str(content))[1].lower() in VIDEO_INPUT_EXTENSIONS
            or video_io.is_video_path(str(output)))


def check_video_output(output):
    """--output of a video: a video file (VIDEO_EXTENSIONS) or a folder of frames."""
    extension = os.path.splitext(output)[1].lower()
    if extension and not video_io.is_video_path(output) and not os.path.isdir(output):
        raise UsageError(f"--output {output!r} cannot hold a video; expected a "
                         f"{', '.join(video_io.VIDEO_EXTENSIONS)} file or a folder "
                         f"for PNG frames.")


def plan_source(painter, styles, masks, strength, coarse_style, fine_style, keyframes,
                fps):
    """A function time -> FusionPlan: one plan, or with keyframes the plan of the
    interpolated weights and strength at that time."""
    if not keyframes:
        plan = painter.plan(styles=styles, masks=masks, strength=strength,
                            coarse_style=coarse_style, fine_style=fine_style)
        return lambda time: plan
    if styles or masks or strength != 1.0:
        raise UsageError("--keyframes sets the styles, weights and strength over time: "
                         "give it without --style, --mask or --strength.")
    frames = keyframes_lib.parse_keyframes(keyframes, fps)
    base = painter.plan(styles=[(name, 1.0) for name in frames.styles],
                        strength=float(frames.strengths.min()),
                        coarse_style=coarse_style, fine_style=fine_style)

    def plan_at(time):
        weights, keyed_strength = frames.at(time)
        return dataclasses.replace(base, weights=weights, strength=keyed_strength)
    return plan_at


def _input_files(content, styles, masks, keyframes):
    style_specs = list(styles)
    if keyframes:
        style_specs += [spec for entry in keyframes.split(";")
                        for spec in entry.partition(":")[2].partition("@")[0].split(",")]
    return painting_files.input_files([content], style_specs, masks)


def paint_video(model, content, output, *, styles=(), masks=(), strength=1.0,
                coarse_style=None, fine_style=None, preserve_color=False, max_size=0,
                keyframes=None, start=0.0, duration=None, max_frames=None,
                frame_painter=None, filters=(), progress=True, tile_size=0,
                tile_overlap=128, precision="auto"):
    """Paints a video (any file FFmpeg decodes, or a folder of frames) into `output`
    (an mp4/mov/mkv file, or a folder of PNG frames) and returns a VideoResult.

    Fusion options are those of painting.paint_files; `keyframes` (video.keyframes)
    changes weights and strength over time instead. Frame rate, size (after
    max_size), timestamps and audio are kept. Everything is validated before the
    first frame is painted; the output appears under its name only when complete.
    A damaged input is painted up to where it decodes, and the result says where it
    stopped (result.truncation).
    """
    painting_files.check_max_size(max_size)
    check_video_output(output)
    painter = (model if isinstance(model, painter_lib.Painter) else painter_lib.load(
        model, tile_size=tile_size, tile_overlap=tile_overlap, precision=precision))
    painting_files.check_outputs([output], _input_files(content, styles, masks,
                                                        keyframes))
    with video_io.open_video(content, start, duration, max_frames) as reader:
        plan_at = plan_source(painter, styles, masks, strength, coarse_style,
                              fine_style, keyframes, reader.fps)
        height, width = painting_images.downscaled_size(reader.size[::-1], max_size)
        started = time_lib.monotonic()
        with video_io.VideoWriter(output, reader.fps, (width, height),
                                  audio_from=reader) as writer:
            _paint_frames(reader, writer, painter, plan_at, frame_painter or PerFrame(),
                          filters, preserve_color, max_size, progress)
        seconds = time_lib.monotonic() - started
    result = VideoResult(output, writer.frames_written,
                         writer.frames_written / max(seconds, 1e-9), writer.codec,
                         reader.truncation)
    logging.info("Wrote %s: %d frames at %.2f fps (%s).", output, result.frames,
                 result.fps, result.codec)
    return result


def paint_frame(painter, frame, plan, frame_painter, filters, preserve_color):
    """One frame painted as a video's frames are: the frame painter, the content's
    colours if asked, then each filter in order."""
    painted = frame_painter(painter, frame, plan)
    if preserve_color:
        painted = painting_images.preserve_color(frame.image, painted)
    for hook in filters:
        painted = hook(frame, painted)
    return painted


def _paint_frames(reader, writer, painter, plan_at, frame_painter, filters,
                  preserve_color, max_size, progress):
    """The streaming loop: decode, paint, filter, encode, one frame at a time."""
    for hook in (frame_painter, *filters):
        hook.reset()
    bar = Progress(reader.frame_count) if progress else None
    for frame in reader:
        frame = frame._replace(image=painting_images.downscale(frame.image, max_size))
        painted = paint_frame(painter, frame, plan_at(frame.time), frame_painter,
                              filters, preserve_color)
        writer.write(painted, frame.time)
        if bar:
            bar.update(writer.frames_written)
    if bar:
        bar.update(writer.frames_written, final=True)
