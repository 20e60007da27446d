"""The graph functions of review analysis and the explained recommendation."""

import numpy as np

from graphs.functions import more_than, ranked_item_lines, representative_reviews, task_prompt
from serve_app.common import llm_tasks
from serve_app.common.recsys_features import AFFINITY_COLUMNS, UNKNOWN_CATEGORY, CandidateFeatures


def test_representative_reviews_keeps_the_k_closest_to_the_mean_in_their_order():
    rng = np.random.default_rng(0)
    centre = rng.normal(size=16)
    near = [centre + rng.normal(scale=0.1, size=16) for _ in range(4)]
    far = [rng.normal(size=16) * 3 for _ in range(2)]
    vectors = [v / np.linalg.norm(v) for v in [far[0], *near[:2], far[1], *near[2:]]]
    reviews = ["far 0", "near 0", "near 1", "far 1", "near 2", "near 3"]
    assert representative_reviews(reviews, [v.tolist() for v in vectors], k=4) == "near 0\nnear 1\nnear 2\nnear 3"
    assert more_than(reviews, 5) and not more_than(reviews[:5], 5)


def test_ranked_item_lines_say_which_category_the_user_likes_and_which_item_is_popular():
    user = {**dict.fromkeys(AFFINITY_COLUMNS, 0.1), "affinity_2": 0.5, "user_ctr": 0.2, "user_impressions": 10.0}
    features = CandidateFeatures(user_id=1, known_user=True, user=user, item_ids=[10, 11, 12, 13],
                                 items={"category": [2, 0, UNKNOWN_CATEGORY, 1], "item_ctr": [0.1, 0.9, 0.2, 0.3],
                                        "item_impressions": [1.0] * 4})
    ranked = [{"item_id": 11, "score": 0.9}, {"item_id": 10, "score": 0.8}, {"item_id": 12, "score": 0.7}]
    assert ranked_item_lines(features, ranked, 3, "en") == "11 noodles popular\n10 pizza liked\n12 new"
    assert ranked_item_lines(features, ranked, 2, "ko") == "11 국수 popular\n10 피자 liked"


def test_task_prompt_is_the_trained_prompt_greedy_and_bounded():
    request = task_prompt("sentiment", reviews="The food was great.")
    assert request.messages[0].content == llm_tasks.prompt("sentiment", reviews="The food was great.")
    assert request.sampling.temperature == 0.0 and request.sampling.max_tokens == llm_tasks.MAX_TOKENS["sentiment"]
    assert request.truncate_prompt


def test_diversity_trades_closeness_to_the_mean_for_reviews_that_say_something_else():
    common, rare = np.array([1.0, 0.0, 0.0]), np.array([0.6, 0.8, 0.0])
    vectors = [common, common, common, rare]
    reviews = ["same 0", "same 1", "same 2", "other"]
    assert representative_reviews(reviews, [v.tolist() for v in vectors], k=2) == "same 0\nsame 1"
    assert representative_reviews(reviews, [v.tolist() for v in vectors], k=2, diversity=0.5) == "same 0\nother"
