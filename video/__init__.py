"""Video: frames in and out (io), fusion keyframed over time (keyframes), and painting
a whole video through the painting library, frame by frame (paint_video).

Sits above painting (every frame is painted by painting.Painter, as images are) and
below evaluation and training.
"""
from video.io import (ENCODERS, VIDEO_EXTENSIONS, Frame, VideoError, VideoReader,
                      VideoWriter, is_video_path, open_video)
from video.keyframes import Keyframes, parse_keyframes
from video.paint_video import (FrameFilter, FramePainter, PerFrame, Progress,
                               VideoResult, is_video_job, paint_video)

__all__ = ["ENCODERS", "VIDEO_EXTENSIONS", "Frame", "FrameFilter", "FramePainter",
           "Keyframes", "PerFrame", "Progress", "VideoError", "VideoReader",
           "VideoResult", "VideoWriter", "is_video_job", "is_video_path", "open_video",
           "parse_keyframes", "paint_video"]
