"""OutputStage (the node's output thread): order, errors, back-pressure, stop (plain callables, no ROS)."""
import threading

from panoptic_ros.ros.node.output_stage import OutputStage


def test_items_are_published_in_order_and_errors_do_not_stop_it():
    seen, errors = [], []

    def publish(item):
        if item == 3:
            raise RuntimeError("bad batch")
        seen.append(item)
    stage = OutputStage(publish, on_error=lambda exc, item: errors.append((str(exc), item))).start()
    for i in range(6):
        stage.put(i)
    assert stage.wait_idle(5.0)
    assert seen == [0, 1, 2, 4, 5] and errors == [("bad batch", 3)]
    assert stage.stop(5.0)


def test_put_blocks_while_one_item_waits_and_stop_publishes_what_was_handed_over():
    release, seen = threading.Event(), []

    def publish(item):
        release.wait(5.0)
        seen.append(item)
    stage = OutputStage(publish).start()
    stage.put("a")                                   # taken by the thread, blocked in publish
    assert not stage.wait_idle(0.05)
    stage.put("b")                                   # waits in the queue
    third = threading.Thread(target=stage.put, args=("c",))
    third.start()
    third.join(0.2)
    assert third.is_alive(), "a third item must wait until the queue has room (inference never runs ahead)"
    release.set()
    third.join(5.0)
    assert stage.stop(5.0)
    assert seen == ["a", "b", "c"]
