"""Readers for real temporal-action annotation files into one ground-truth table.

Every reader returns a DataFrame with columns ``video_id, t_start, t_end, label,
split, fps, duration`` (see :mod:`nemi.io.annotations.table`).
"""

from nemi.io.annotations.activitynet import (
    read_activitynet_json,
    read_bsn_anno_action,
    read_bsn_val_groundtruth,
    read_bsn_video_info,
)
from nemi.io.annotations.adapters import DatasetTables, activitynet_tables, thumos14_tables
from nemi.io.annotations.subsets import THUMOS14_TEST_OMITTED, resolve_videos, thumos14_test_subset
from nemi.io.annotations.table import COLUMNS
from nemi.io.annotations.thumos14 import (
    THUMOS14_CLASSES,
    THUMOS14_UCF101_IDS,
    attach_video_info,
    read_gtad_thumos_gt,
    read_rtd_thumos14_json,
    read_thumos14_annotation_csv,
    read_thumos14_groundtruth_csv,
    read_thumos14_txt,
    read_thumos14_video_info,
)

# format name (the CLI's --format) -> reader taking the path
READERS = {
    "thumos14-txt": read_thumos14_txt,
    "thumos14-groundtruth-csv": read_thumos14_groundtruth_csv,
    "thumos14-annotation-csv": read_thumos14_annotation_csv,
    "rtd-thumos14-json": read_rtd_thumos14_json,
    "gtad-thumos-gt-json": read_gtad_thumos_gt,
    "bsn-anet-json": read_bsn_anno_action,
    "bsn-anet-val-csv": read_bsn_val_groundtruth,
    "activitynet-json": read_activitynet_json,
}

__all__ = [
    "COLUMNS", "DatasetTables", "READERS", "THUMOS14_CLASSES", "THUMOS14_TEST_OMITTED", "THUMOS14_UCF101_IDS",
    "activitynet_tables", "attach_video_info", "read_activitynet_json", "read_bsn_anno_action",
    "read_bsn_val_groundtruth", "read_bsn_video_info", "read_gtad_thumos_gt", "read_rtd_thumos14_json",
    "read_thumos14_annotation_csv", "read_thumos14_groundtruth_csv", "read_thumos14_txt", "read_thumos14_video_info",
    "resolve_videos", "thumos14_tables", "thumos14_test_subset",
]
