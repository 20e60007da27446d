"""Feature definitions of the recommender: user and item entities and their feature views."""

from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float32, Int64

# Absolute paths from this file's own location, so a copied repo reads its own data folder.
DATA = Path(__file__).resolve().parent / "data"
# A ttl of zero never expires: the tables are snapshots, not event streams.
NO_EXPIRY = timedelta(0)

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64,
              description="A user of the recommender")
item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.INT64,
              description="An item in the candidate catalog")

user_features = FeatureView(
    name="user_features",
    entities=[user],
    ttl=NO_EXPIRY,
    schema=[
        *(Field(name=f"affinity_{c}", dtype=Float32) for c in range(8)),
        Field(name="user_ctr", dtype=Float32, description="Smoothed click-through rate"),
        Field(name="user_impressions", dtype=Int64),
    ],
    source=FileSource(name="users", path=str(DATA / "users.parquet"),
                      timestamp_field="event_timestamp"),
    online=True,
)

item_features = FeatureView(
    name="item_features",
    entities=[item],
    ttl=NO_EXPIRY,
    schema=[
        Field(name="category", dtype=Int64),
        Field(name="item_ctr", dtype=Float32, description="Smoothed click-through rate"),
        Field(name="item_impressions", dtype=Int64),
    ],
    source=FileSource(name="items", path=str(DATA / "items.parquet"),
                      timestamp_field="event_timestamp"),
    online=True,
)
