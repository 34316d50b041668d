"""Video: frames in and out (io), fusion keyframed over time (keyframes), and painting
a whole video through the painting library, frame by frame (paint_video).

Sits above painting (every frame is painted by painting.Painter, as images are) and
below evaluation and training.
"""
from video.io import (ENCODERS, VIDEO_EXTENSIONS, Frame, VideoError, VideoReader,
                      VideoWriter, is_video_path, open_video)

__all__ = ["ENCODERS", "VIDEO_EXTENSIONS", "Frame", "VideoError", "VideoReader",
           "VideoWriter", "is_video_path", "open_video"]
