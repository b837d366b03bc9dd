"""Unsupervised point tracks through videos: the pseudolabels of ``tracking`` (Wang & Gupta 2015).

For each video, corners of its first frame (Shi & Tomasi's ``goodFeaturesToTrack``) are followed
frame to frame by OpenCV's pyramidal Lucas–Kanade optical flow (``calcOpticalFlowPyrLK``). A
point is kept while LK reports it found and it stays half LK's window away from the frame's
border, and if, followed back from
the last frame to the first, it returns within ``FB_TOLERANCE`` px of where it started (the
forward-backward check of Kalal, Mikolajczyk & Matas 2010, which rejects points LK loses on noise
or in flat regions); of the points kept, the one that travelled farthest is the video's track: a moving object's point, as
the paper keeps the patches that move (it finds them with dense trajectories and follows them
with a KCF tracker). A video with no corner, or no point followed to the end, gets a static
track at its centre, and ``moving`` says so.

OpenCV comes from the ``[video]`` extra (``opencv-python-headless``).
"""

import numpy as np
import torch

from ssrl.errors import SsrlError

MAX_CORNERS = 25
QUALITY = 0.01     # of the strongest corner's response
MIN_DISTANCE = 3   # px between corners
LK_WINDOW = 9      # px: LK's search window side
LK_LEVELS = 2      # pyramid levels above the frame
FB_TOLERANCE = 1.0 # px: forward-backward error a kept point may have


def _cv2():
    try:
        import cv2
    except ImportError as e:
        raise SsrlError("point tracks need OpenCV: pip install opencv-python-headless (or ssrl[video])") from e
    return cv2


def track_video(frames: np.ndarray) -> tuple[np.ndarray, bool]:
    """(the track (T, 2) of (x, y) in pixels, whether it moves) of one video's frames (T, H, W) uint8."""
    cv2 = _cv2()
    t, h, w = frames.shape
    centre = np.tile(np.array([(w - 1) / 2, (h - 1) / 2], dtype=np.float32), (t, 1))
    corners = cv2.goodFeaturesToTrack(frames[0], MAX_CORNERS, QUALITY, MIN_DISTANCE)
    if corners is None:
        return centre, False
    start = corners.reshape(-1, 1, 2).astype(np.float32)
    forward, alive = _follow(cv2, frames, start, range(1, t), -1)      # (P, T, 2)
    back, back_alive = _follow(cv2, frames, forward[:, -1:].copy().reshape(-1, 1, 2), range(t - 2, -1, -1), 1)
    alive &= back_alive & (np.linalg.norm(back[:, -1] - start[:, 0], axis=1) < FB_TOLERANCE)
    path = forward
    if not alive.any():
        return centre, False
    travelled = np.abs(np.diff(path, axis=1)).sum(axis=(1, 2))          # (P,)
    best = np.flatnonzero(alive)[np.argmax(travelled[alive])]
    return path[best], bool(travelled[best] > 0.5)


def _follow(cv2, frames: np.ndarray, points: np.ndarray, order, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Points (P, 1, 2) followed by LK through frames ``order`` (each from frame ``i + step``):
    (their path (P, 1 + len(order), 2), whether each stayed found and away from the border)."""
    h, w = frames.shape[1:]
    path, alive = [points[:, 0].copy()], np.ones(len(points), dtype=bool)
    for i in order:
        moved, found, _ = cv2.calcOpticalFlowPyrLK(frames[i + step], frames[i], points, None,
                                                   winSize=(LK_WINDOW, LK_WINDOW), maxLevel=LK_LEVELS)
        x, y = moved[:, 0, 0], moved[:, 0, 1]
        m = LK_WINDOW // 2  # nearer the border LK's window leaves the frame and its estimate drifts
        alive &= found[:, 0].astype(bool) & (x >= m) & (x <= w - 1 - m) & (y >= m) & (y <= h - 1 - m)
        points = moved
        path.append(points[:, 0].copy())
    return np.stack(path, axis=1), alive


def track_videos(videos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(tracks (N, T, 2) float32 (x, y), moving (N,) bool) of videos (N, T, C, H, W) uint8; colour
    videos are tracked on their luminance."""
    gray = videos.float().mean(2).round().to(torch.uint8).numpy() if videos.shape[2] > 1 else videos[:, :, 0].numpy()
    tracked = [track_video(np.ascontiguousarray(v)) for v in gray]
    return (torch.from_numpy(np.stack([p for p, _ in tracked])).float(),
            torch.tensor([m for _, m in tracked], dtype=torch.bool))
