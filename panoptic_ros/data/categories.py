"""Dataset categories and their contiguous channel indices (the model's and fuse()'s class index)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

# The semantic label of pixels that belong to no category (void, crowd): the loss and the metrics skip them,
# and a predicted "unknown" pixel uses the same value. The one definition; everything else imports it.
IGNORE_LABEL = 255


@dataclass(frozen=True)
class Category:
    id: int          # dataset category id (COCO panoptic JSON)
    name: str
    isthing: bool
    color: tuple[int, int, int] = (128, 128, 128)


class CategoryMap:
    """Ordered categories: channel index i <-> dataset category id; order = the JSON's order sorted by id."""

    def __init__(self, categories: list[Category]):
        if not categories:
            raise ValueError("a dataset needs at least one category")
        self.categories = sorted(categories, key=lambda c: c.id)
        ids = [c.id for c in self.categories]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate category ids: {ids}")
        self._index = {c.id: i for i, c in enumerate(self.categories)}

    @classmethod
    def from_coco(cls, cats: list[dict]) -> CategoryMap:
        """From the ``categories`` list of a COCO panoptic JSON."""
        out = []
        for c in cats:
            color = tuple(int(v) for v in c.get("color", (128, 128, 128)))
            out.append(Category(int(c["id"]), str(c.get("name", c["id"])), bool(c.get("isthing", 0)), color))
        return cls(out)

    def to_coco(self) -> list[dict]:
        return [{"id": c.id, "name": c.name, "isthing": int(c.isthing), "color": list(c.color)}
                for c in self.categories]

    def to_list(self) -> list[dict]:
        return [asdict(c) for c in self.categories]

    @classmethod
    def from_list(cls, items: list[dict]) -> CategoryMap:
        return cls([Category(int(d["id"]), d["name"], bool(d["isthing"]), tuple(d.get("color", (128, 128, 128))))
                    for d in items])

    def __len__(self) -> int:
        return len(self.categories)

    def index(self, category_id: int) -> int:
        """Channel index of a dataset category id (KeyError names the unknown id)."""
        try:
            return self._index[category_id]
        except KeyError:
            raise KeyError(f"unknown category id {category_id}") from None

    def category(self, index: int) -> Category:
        return self.categories[index]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.categories]

    @property
    def thing_mask(self) -> torch.Tensor:
        """bool [C]: True for thing channels (what fuse() takes)."""
        return torch.tensor([c.isthing for c in self.categories], dtype=torch.bool)

    @property
    def num_things(self) -> int:
        return sum(c.isthing for c in self.categories)
