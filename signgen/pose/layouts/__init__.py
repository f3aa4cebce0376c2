"""Keypoint layouts as data: each module is one table mapping its layout to the canonical one."""
