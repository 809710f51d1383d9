"""`panoptic train` with a validation that lasts at least DELAY seconds (env PANOPTIC_TEST_VAL_DELAY), whatever
the machine's speed: test_ddp_validation.py starts this under torchrun so its verdict does not depend on how long
real validation takes. The delay is a sleep before the real evaluate_model, so metrics are the real ones."""
import os
import sys
import time

from panoptic_ros.cli.main import main
from panoptic_ros.engine import trainer

_real_evaluate = trainer.evaluate_model


def _slow_evaluate(*args, **kwargs):
    time.sleep(float(os.environ["PANOPTIC_TEST_VAL_DELAY"]))
    return _real_evaluate(*args, **kwargs)


trainer.evaluate_model = _slow_evaluate

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
