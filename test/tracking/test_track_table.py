"""TrackTable: rows added with defaults, removed with their masks, ordered by creation (live) or ending (memory)."""
import numpy as np

from panoptic_ros.tracking import track_table
from panoptic_ros.tracking.track_table import COLUMNS, TrackTable


def masks(*sizes):
    return [np.arange(n, dtype=np.int32) for n in sizes]


def test_new_rows_take_the_defaults_unless_given():
    t = TrackTable()
    rows = t.append(2, masks(3, 4), id=[7, 8], center=np.array([[1.0, 2.0], [3.0, 4.0]]), velocity=[5.0, 6.0])
    assert rows.tolist() == [0, 1] and len(t) == 2
    assert t.id.tolist() == [7, 8] and t.center.tolist() == [[1, 2], [3, 4]]
    assert t.velocity.tolist() == [[5, 6], [5, 6]]           # one vector for every new row
    assert np.isnan(t.depth).all() and t.live.all() and t.born_new.all() and not t.has_hist.any()
    for name, (dtype, width, _) in COLUMNS.items():
        column = getattr(t, name)
        assert column.dtype == dtype and column.shape == ((2,) if width == 0 else (2, width)), name


def test_columns_are_writable_views_and_deleting_keeps_masks_with_their_rows():
    t = TrackTable()
    t.append(3, masks(1, 2, 3), id=[1, 2, 3])
    t.box[1] = (10, 20, 30, 40)
    t.hist[2, 5] = 0.5
    t.delete(np.array([0]))
    assert t.id.tolist() == [2, 3] and [len(m) for m in t.masks] == [2, 3]
    assert t.box[0].tolist() == [10, 20, 30, 40] and t.hist[1, 5] == 0.5
    t.delete(t.id == 3)
    assert t.id.tolist() == [2] and [len(m) for m in t.masks] == [2]
    t.clear()
    assert len(t) == 0 and t.hist.shape == (0, 64)


def test_live_rows_come_in_creation_order_and_memory_rows_oldest_first():
    t = TrackTable()
    t.append(4, masks(1, 1, 1, 1), id=[1, 2, 3, 4], order=t.next_order(4))
    t.order[0] = t.next_order(1)[0]                 # track 1 revived: it goes last
    assert t.id[t.live_rows()].tolist() == [2, 3, 4, 1]
    for row in (3, 1):                              # track 4 ends, then track 2
        t.live[row] = False
        t.order[row] = t.next_order(1)[0]
    assert t.id[t.memory_rows()].tolist() == [4, 2] and t.id[t.live_rows()].tolist() == [3, 1]


def test_the_column_layout_gives_each_column_its_own_block_columns_and_default():
    width, defaults, where = track_table._layout()
    for dtype, total in width.items():
        spans = sorted((start, start + max(w, 1)) for d, start, w in where.values() if d == dtype)
        assert spans[0][0] == 0 and spans[-1][1] == total                  # the block is tiled ...
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))         # ... without overlap or gap
        assert defaults[dtype].shape == (total,) and defaults[dtype].dtype == dtype
    for name, (dtype, w, default) in COLUMNS.items():
        d, start, width_ = where[name]
        assert (d, width_) == (dtype, w)
        np.testing.assert_array_equal(defaults[dtype][start:start + max(w, 1)], np.full(max(w, 1), default, dtype))
