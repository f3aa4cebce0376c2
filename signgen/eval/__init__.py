"""Metrics: image quality (whole frame and changed region) and temporal consistency.

`signgen.eval.temporal` (flicker, warping error) needs only numpy and OpenCV.
"""
