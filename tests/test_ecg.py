import numpy as np
import pytest

from ecgbyte.ecg import STANDARD_LEADS, Ecg, canonical_lead_name, reorder_leads
from ecgbyte.errors import EcgbyteError, RecordError


@pytest.mark.parametrize(
    ("raw", "canon"),
    [("AVR", "aVR"), ("aVR", "aVR"), ("avr", "aVR"), ("i", "I"), ("v6", "V6"), (" II ", "II"), ("vx", None)],
)
def test_canonical_lead_name(raw, canon):
    assert canonical_lead_name(raw) == canon


def test_reorder_by_name_drops_extras_and_reports_them():
    names = ["v1", "i", "vx", *[x.upper() for x in STANDARD_LEADS if x not in ("V1", "I")]]
    sig = np.arange(len(names), dtype=np.float32)[:, None] * np.ones((1, 5), np.float32)
    out, leads, dropped = reorder_leads(sig, names)
    assert leads == STANDARD_LEADS
    assert dropped == ("vx",)
    # row k of the output is the input row whose name maps to STANDARD_LEADS[k]
    expected = [
        names.index(n) if n in names else [m.lower() for m in names].index(n.lower()) for n in STANDARD_LEADS
    ]
    np.testing.assert_array_equal(out[:, 0], np.array(expected, np.float32))


def test_missing_lead_is_an_error_unless_subset_requested():
    sig = np.zeros((2, 10), np.float32)
    with pytest.raises(RecordError, match="missing lead"):
        reorder_leads(sig, ["I", "II"], where="rec1")
    out, leads, _ = reorder_leads(sig, ["II", "I"], leads=["I"])
    assert leads == ("I",) and out.shape == (1, 10)


def test_ecg_validates_shape_fs_and_lead_count():
    with pytest.raises(RecordError):
        Ecg(np.zeros(10), fs=500)
    with pytest.raises(RecordError, match="sampling rate"):
        Ecg(np.zeros((12, 10)), fs=0)
    with pytest.raises(RecordError, match="lead names"):
        Ecg(np.zeros((3, 10)), fs=500)
    ecg = Ecg(np.zeros((12, 5000), np.float64), fs=500)
    assert ecg.signal.dtype == np.float32 and ecg.duration_s == 10.0
    assert issubclass(RecordError, EcgbyteError) and issubclass(EcgbyteError, ValueError)
    assert ecg.select_leads(["V1", "I"]).leads == ("V1", "I")
