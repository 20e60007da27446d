"""The ranker's feature building, shared by training and serving so the two can never drift."""

import numpy as np
import pandas as pd
from pydantic import BaseModel

CATEGORIES = 8
USER_VIEW, ITEM_VIEW = "user_features", "item_features"
AFFINITY_COLUMNS = [f"affinity_{c}" for c in range(CATEGORIES)]
USER_COLUMNS = [*AFFINITY_COLUMNS, "user_ctr", "user_impressions"]
ITEM_COLUMNS = ["category", "item_ctr", "item_impressions"]
FEATURE_NAMES = ["category_affinity", "affinity_lift", "user_ctr", "item_ctr", "item_impressions"]
# The category of a catalog item the online store does not hold yet.
UNKNOWN_CATEGORY = -1
# Written by the artifact builder next to the feature tables it derives from.
DEFAULTS_FILE = "data/defaults.json"


class FeatureDefaults(BaseModel):
    """What FeatureLookup answers for a user or item the online store lacks: the features of one
    without history."""

    user: dict[str, float]
    item: dict[str, float]


class CandidateFeatures(BaseModel):
    """One user's features and, column by column, the features of every candidate item."""

    user_id: int
    # False when the online store lacks the user and `user` holds FeatureDefaults.user.
    known_user: bool
    user: dict[str, float]
    item_ids: list[int]
    items: dict[str, list[float]]


def feature_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Model features of user-item pairs, one row per pair, columns in FEATURE_NAMES order.

    `rows` holds USER_COLUMNS and ITEM_COLUMNS side by side.
    """
    affinities = rows[AFFINITY_COLUMNS].to_numpy(dtype=np.float64)
    user_ctr = rows["user_ctr"].to_numpy(dtype=np.float64)
    categories = rows["category"].to_numpy(dtype=np.int64)
    known = categories != UNKNOWN_CATEGORY
    # An item of unknown category gets the user's overall click rate: no lift either way.
    own = affinities[np.arange(len(rows)), np.where(known, categories, 0)]
    category_affinity = np.where(known, own, user_ctr)
    return pd.DataFrame({
        "category_affinity": category_affinity,
        # How much more this user clicks the item's category than anything: the personal signal.
        "affinity_lift": category_affinity - user_ctr,
        "user_ctr": user_ctr,
        "item_ctr": rows["item_ctr"].to_numpy(dtype=np.float64),
        "item_impressions": rows["item_impressions"].to_numpy(dtype=np.float64),
    }, index=rows.index)[FEATURE_NAMES]


def candidate_frame(features: CandidateFeatures) -> pd.DataFrame:
    """The user's features broadcast next to each candidate item's, ready for `feature_frame`."""
    items = pd.DataFrame(features.items)
    return items.assign(**{name: features.user[name] for name in USER_COLUMNS})
