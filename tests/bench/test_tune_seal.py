"""The Tune-state seal: an HMAC over the experiment's files, keyed outside the run root."""

from __future__ import annotations

from gre_ray.bench import tune_seal
from gre_ray.data.storage import Location


def _experiment(tmp_path):
    root = tmp_path / "tune" / "grid"
    (root / "trial_a").mkdir(parents=True)
    (root / "tuner.pkl").write_bytes(b"state")
    (root / "trial_a" / "params.pkl").write_bytes(b"params")
    return Location.of(root)


def test_sealed_state_verifies_and_any_change_breaks_it(tmp_path, monkeypatch):
    monkeypatch.setenv(tune_seal.KEY_ENV, str(tmp_path / "key"))
    experiment = _experiment(tmp_path)
    assert not tune_seal.is_sealed(experiment)  # never sealed
    tune_seal.seal(experiment)
    assert tune_seal.is_sealed(experiment)
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o600

    (tmp_path / "tune" / "grid" / "trial_a" / "params.pkl").write_bytes(b"evil!!")  # same size, other bytes
    assert not tune_seal.is_sealed(experiment)


def test_a_seal_from_another_key_or_a_copied_seal_does_not_verify(tmp_path, monkeypatch):
    experiment = _experiment(tmp_path)
    monkeypatch.setenv(tune_seal.KEY_ENV, str(tmp_path / "attacker-key"))
    tune_seal.seal(experiment)  # whoever can write the run root can write a seal, with their own key
    monkeypatch.setenv(tune_seal.KEY_ENV, str(tmp_path / "driver-key"))
    assert not tune_seal.is_sealed(experiment)


def test_plain_digest_is_not_enough_the_key_matters(tmp_path):
    experiment = _experiment(tmp_path)
    assert tune_seal.state_digest(experiment, b"k1") != tune_seal.state_digest(experiment, b"k2")
    assert tune_seal.state_digest(experiment, b"k1") == tune_seal.state_digest(experiment, b"k1")
