"""The training set: features from the feature service, a clean time split, a stable fingerprint."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from smartstack.cli import app
from smartstack.datasets.synthetic import SyntheticAdapter
from smartstack.featurestore import store
from smartstack.settings import Settings
from smartstack.training import dataset


def test_model_columns_are_the_feature_service(data, base_settings) -> None:
    assert data.features == store.model_feature_names(base_settings)
    labels = {"relevance", "redeemed", "clicked", "viewed", "outcome", "p_redeem", "position"}
    assert not labels & set(data.features)


def test_test_period_comes_after_validation_after_train(data) -> None:
    stamps = {p: data.subset(p)["event_timestamp"] for p in dataset.PARTS}
    assert stamps["train"].max() < stamps["validation"].min()
    assert stamps["validation"].max() < stamps["test"].min()
    parts_per_request = (
        data.frame.assign(part=data.part).groupby("request_id")["part"].nunique().max()
    )
    assert parts_per_request == 1
    counts = data.counts()
    assert counts["rows_test"] > 0.1 * len(data.frame)


def test_fingerprint_is_stable_and_sensitive(data) -> None:
    frame = data.frame
    assert dataset.fingerprint(frame, data.features) == data.fingerprint
    changed = frame.copy()
    column = data.features[0]
    changed.loc[0, column] = (changed.loc[0, column] or 0) + 1
    assert dataset.fingerprint(changed, data.features) != data.fingerprint


def test_each_part_s_fingerprint_is_the_fingerprint_of_its_rows_alone(data) -> None:
    for part in dataset.PARTS:
        rows = data.frame.loc[data.rows(part)].reset_index(drop=True)
        assert data.part_fingerprints[part] == dataset.fingerprint(rows, data.features)
    assert len(set(data.part_fingerprints.values())) == len(dataset.PARTS)


def test_a_part_s_columns_and_matrix_are_its_rows_of_the_frame(data) -> None:
    """The accessors take columns before rows; what they return is the part's rows."""
    for part in dataset.PARTS:
        rows = data.frame.loc[data.rows(part)]
        assert data.labels(part).tolist() == rows["redeemed"].astype(float).tolist()
        assert data.groups(part).tolist() == rows["request_id"].tolist()
        pd.testing.assert_frame_equal(data.segments(part), rows[list(data.segment_columns)])
        expected = rows[data.features].to_numpy(dtype=np.float32)
        np.testing.assert_array_equal(data.matrix(part), expected)
        shuffled = data.features[::-1]
        np.testing.assert_array_equal(data.matrix(part, shuffled), expected[:, ::-1])


def test_a_contiguous_part_s_matrix_is_a_read_only_view_of_the_frame(data) -> None:
    """The time split's parts are runs of rows, and the loaded frame's features one matrix:
    a part's matrix is a slice of it, not a copy, and cannot be written through."""
    column = data.features[0]
    for part in dataset.PARTS:
        matrix = data.matrix(part)
        assert np.shares_memory(matrix, data.frame[column].to_numpy())
        assert not matrix.flags.writeable
    # Another column order, or rows that are not one run, are copies of the same values.
    reordered = data.matrix("train", data.features[::-1])
    assert reordered.flags.writeable and not np.shares_memory(reordered, data.matrix("train"))
    scattered = replace(data, part=np.where(np.arange(len(data.part)) % 2 == 0, "train", "test"))
    np.testing.assert_array_equal(
        scattered.matrix("train"),
        data.frame[data.features].to_numpy(np.float32)[::2],
    )


def test_a_frame_whose_features_are_one_matrix_shares_it_and_any_other_has_none() -> None:
    block = np.arange(12, dtype=np.float32).reshape(4, 3)
    shared = pd.DataFrame(block, columns=["a", "b", "c"], copy=False)
    matrix = dataset.shared_matrix(shared, ["a", "b", "c"])
    assert matrix is not None and np.shares_memory(matrix, block)
    np.testing.assert_array_equal(matrix, block)
    np.testing.assert_array_equal(
        dataset.shared_matrix(shared.iloc[1:3], ["a", "b", "c"]), block[1:3]
    )
    assert dataset.shared_matrix(shared, ["b", "a", "c"]) is None
    assert dataset.shared_matrix(shared, ["a", "b"]) is None
    assert dataset.shared_matrix(shared.astype(np.float64), ["a", "b", "c"]) is None
    apart = pd.DataFrame({"a": block[:, 0].copy(), "b": block[:, 1].copy(), "c": block[:, 2]})
    assert dataset.shared_matrix(apart, ["a", "b", "c"]) is None


def test_the_training_set_is_feasts_join_of_every_labelled_row_in_order(base_settings) -> None:
    """Assembled chunk by chunk (here four), the frame is Feast's join of all the labelled rows
    at once: the same columns, values and dtypes (the features as float32), rows in ORDER."""
    rows = store.labelled_impressions(base_settings)
    training = base_settings.training.with_overrides(chunk_rows=len(rows) // 4 + 1)
    frame, features = dataset.load_frame(base_settings.model_copy(update={"training": training}))
    joined = store.training_frame(rows, base_settings)
    assert list(frame.columns) == [*(c for c in dataset.KEEP if c in joined), *features]
    expected = joined.sort_values(dataset.ORDER, kind="stable", ignore_index=True)
    expected = expected[list(frame.columns)].astype(dict.fromkeys(features, np.float32))
    pd.testing.assert_frame_equal(frame, expected)


def test_a_frame_out_of_order_is_sorted_and_one_in_order_is_not_copied(data) -> None:
    shuffled = data.frame.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(dataset.in_order(shuffled), data.frame)
    kept = dataset.in_order(data.frame)
    column = data.features[0]
    assert np.shares_memory(kept[column].to_numpy(), data.frame[column].to_numpy())


def test_segments_and_oracle_ride_along_but_are_not_features(data) -> None:
    segments = data.segments("test")
    assert (
        set(segments.columns)
        == set(SyntheticAdapter.segments)
        == {"card_product", "tenure", "drift"}
    )
    assert set(segments["tenure"].dropna()) <= {"new", "tenured"}
    assert "p_redeem" in data.frame and not np.isnan(data.frame["p_redeem"]).any()


def test_train_without_a_training_set_says_what_to_run(tmp_path) -> None:
    result = CliRunner().invoke(app, ["train"], obj=Settings(home=tmp_path))
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "smartstack dbt build" in output and "smartstack feast apply" in output
    assert not (tmp_path / "mlflow").exists()


def test_a_training_sample_is_stable_and_only_taken_beyond_its_limit() -> None:
    customers = pd.Series([f"C{i:05d}" for i in range(1_000)])
    sample = dataset.training_sample(customers, 100)
    assert sample is not None and len(set(sample)) == 100 and set(sample) <= set(customers)
    assert dataset.training_sample(customers.sample(frac=1.0, random_state=1), 100) == sample
    assert dataset.training_sample(pd.concat([customers, customers]), 100) == sample
    assert dataset.training_sample(customers, 1_000) is None
    assert dataset.training_sample(customers, None) is None
    held_out = dataset.customer_share(customers) < 0.1
    # Independent of the hold-out: about a tenth of the sample is held out too.
    assert 3 <= customers[held_out].isin(sample).sum() <= 20


def test_a_limited_training_set_is_the_full_one_restricted_to_the_sample(
    data, base_settings
) -> None:
    training = base_settings.training.with_overrides(max_customers=300)
    sampled = dataset.build(base_settings.model_copy(update={"training": training}))
    chosen = set(sampled.frame["customer_id"])
    assert len(chosen) == 300
    assert chosen == set(dataset.training_sample(data.frame["customer_id"], 300) or [])
    full = data.frame[data.frame["customer_id"].isin(chosen)]
    columns = ["impression_id", *data.features]
    pd.testing.assert_frame_equal(
        sampled.frame[columns].sort_values("impression_id", ignore_index=True),
        full[columns].sort_values("impression_id", ignore_index=True),
    )
