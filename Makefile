# The two commands of the README. Both run the idempotent set-up first.
.PHONY: setup demo test bench model mutation
setup:
	bash tools/setup.sh
demo: setup
	bash tools/run.sh panoptic demo
# PANOPTIC_REQUIRE_ROS=1: a broken ROS environment fails the ROS tests instead of skipping them;
# PANOPTIC_REQUIRE_REFERENCE=1: so do missing reference packages (requirements-reference.txt)
test: setup
	PANOPTIC_REQUIRE_ROS=1 PANOPTIC_REQUIRE_REFERENCE=1 bash tools/run.sh pytest
bench: setup
	bash tools/run.sh panoptic bench all --out runs/bench
model: setup
	bash tools/run.sh bash tools/train_default_model.sh
# mutation testing of the core modules on a copy of the tree (tools/mutation.sh; slow, not part of CI)
mutation: setup
	bash tools/mutation.sh
