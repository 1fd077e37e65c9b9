"""Batched reads (chapter 04): a DataLoader batch decrypted at once is exactly the per-sample batch."""
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from torch.utils.data import DataLoader, TensorDataset

from course_lib import container, pubkey
from course_lib.container import TAG, ContainerReader, _pieces, adjacent_runs, chunk_nonce, chunk_nonces
from course_lib.datasets import (EncryptedDataset, Normalize, PlainRecordDataset, RecordBatch, collate_records,
                                 save_encrypted_dataset, save_plain_dataset)
from course_lib.errors import ChunkAuthenticationError, ContainerFormatError, ReleaseMismatchError, TruncatedError
from course_lib.release import Pin

OWNER = pubkey.new_x25519_key()
SIGNER = pubkey.new_ed25519_key()
PIN = Pin(SIGNER.public_key(), "images", min_version=1)


def _images(n=300, shape=(3, 8, 8), seed=0):
    generator = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=generator),
                         torch.randint(0, 10, (n,), generator=generator))


@pytest.fixture(scope="module", params=[(3, 8, 8), (3, 32, 32)], ids=["many-per-chunk", "one-per-chunk"])
def stored(request, tmp_path_factory):
    source = _images(shape=request.param)
    folder = tmp_path_factory.mktemp("batched")
    save_encrypted_dataset(source, folder / "data.cldc", recipients=[OWNER.public_key()], signer=SIGNER, name="images")
    save_plain_dataset(source, folder / "data.rec")
    return source, folder


@pytest.fixture(params=["whole batch", "one chunk", "three chunks"])
def staging(request, stored, monkeypatch):
    """How much ciphertext a batched read stages at once: the whole batch (the default for small
    chunks), or pieces of one or three chunks (what large chunks get)."""
    _, folder = stored
    with ContainerReader(folder / "data.cldc", OWNER, allow_unsigned=True) as reader:
        stride = reader.header.chunk_size + TAG
    limit = {"whole batch": container.STAGING_BYTES, "one chunk": 1, "three chunks": 3 * stride}[request.param]
    monkeypatch.setattr(container, "STAGING_BYTES", limit)
    return limit


def _datasets(folder, transform=None):
    return (EncryptedDataset(folder / "data.cldc", OWNER, transform=transform, pin=PIN),
            PlainRecordDataset(folder / "data.rec", transform=transform))


def test_a_batch_read_at_once_equals_the_samples_read_one_by_one(stored, staging):
    source, folder = stored
    order = torch.randperm(len(source), generator=torch.Generator().manual_seed(3)).tolist()
    for dataset in _datasets(folder):
        for batch in (order[:128], order[128:], [5, 5, 0, -1, 299], [7]):
            got = dataset.__getitems__(batch)
            assert isinstance(got, RecordBatch) and len(got) == len(batch)
            x, y = collate_records(got)
            assert torch.equal(x, torch.stack([dataset[i][0] for i in batch]))
            assert torch.equal(y, torch.stack([dataset[i][1] for i in batch]))
            assert torch.equal(x, source.tensors[0][torch.tensor(batch) % len(source)])


def test_one_dataset_reads_batches_of_changing_sizes_correctly(stored, staging):
    """A reader reuses its row views between batches: smaller, larger, and with the short final chunk."""
    source, folder = stored
    rng = np.random.default_rng(4)
    for dataset in _datasets(folder):
        for size in (64, 3, 128, 1, 300, 17, 200, 2):
            batch = rng.choice(len(source), size=size, replace=False).tolist()
            x, y = collate_records(dataset.__getitems__(batch))
            assert torch.equal(x, source.tensors[0][batch]) and torch.equal(y, source.tensors[1][batch])


def test_out_of_range_indices_are_refused_by_the_batched_read(stored):
    _, folder = stored
    encrypted, plain = _datasets(folder)
    for dataset in (encrypted, plain):
        with pytest.raises(IndexError, match="sample 300 out of range"):
            dataset.__getitems__([0, 300])
        with pytest.raises(IndexError, match="sample -301 out of range"):
            dataset.__getitems__([-301])


@pytest.mark.parametrize("workers,context", [(0, None), (2, "fork"), (2, "spawn")])
def test_shuffled_loaders_give_identical_batches_batched_or_not(stored, workers, context):
    source, folder = stored
    normalize = Normalize(mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3], scale=255.0)
    encrypted, plain = _datasets(folder, transform=normalize)

    def epoch(dataset, collate, workers=workers):
        return list(DataLoader(dataset, batch_size=64, shuffle=True, num_workers=workers, collate_fn=collate,
                               multiprocessing_context=context if workers else None, timeout=120 if workers else 0,
                               generator=torch.Generator().manual_seed(1)))

    # the order comes from the generator alone, whatever the workers; each spawned worker imports torch
    # afresh, so under spawn (where what differs is that the dataset crosses a pickle) only the fast path runs
    reference = epoch(TensorDataset(*[torch.stack(f) for f in zip(*(normalize(*s) for s in source))]), None, workers=0)
    for dataset in (encrypted, plain):
        for collate in (collate_records, None) if context != "spawn" else (collate_records,):  # any collate_fn works
            got = epoch(dataset, collate)
            assert len(got) == len(reference)
            for (x, y), (rx, ry) in zip(got, reference):
                assert torch.equal(x, rx) and torch.equal(y, ry)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("shape", [(3, 4, 4), (5, 3, 4, 4)])
def test_normalize_leaves_its_input_alone_and_computes_the_formula(dtype, shape):
    normalize = Normalize(mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3], scale=255.0)
    pixels = torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(0)).to(dtype)
    before = pixels.clone()
    x, label = normalize(pixels, 7)
    assert torch.equal(pixels, before) and label == 7            # a float input used to be divided in place
    assert x.dtype == torch.float32 and x.shape == pixels.shape and x.data_ptr() != pixels.data_ptr()
    assert torch.equal(x, (pixels.float() / 255.0 - normalize.mean) / normalize.std)    # the same float32 steps


def test_a_per_sample_transform_still_sees_one_sample_at_a_time(stored):
    _, folder = stored
    shapes = []

    def per_sample(pixels, label):
        shapes.append(tuple(pixels.shape))
        return pixels.float(), label

    encrypted, _ = _datasets(folder, transform=per_sample)
    samples = encrypted.__getitems__([1, 2, 3])
    assert isinstance(samples, list) and len(samples) == 3 and len(set(shapes)) == 1 and len(shapes[0]) == 3


def _flip_chunk_byte(src, dst, chunk, folder):
    blob = bytearray(src.read_bytes())
    reader = ContainerReader(src, OWNER, allow_unsigned=True)
    blob[reader.body_offset + chunk * (reader.header.chunk_size + TAG) + 5] ^= 0x01
    reader.close()
    dst.write_bytes(bytes(blob))


def test_a_tampered_chunk_inside_a_batch_names_the_sample_and_returns_nothing(stored, staging, tmp_path):
    source, folder = stored
    per_chunk = EncryptedDataset(folder / "data.cldc", OWNER, pin=PIN).spec["records_per_chunk"]
    victim = 200
    _flip_chunk_byte(folder / "data.cldc", tmp_path / "tampered.cldc", 1 + victim // per_chunk, folder)
    dataset = EncryptedDataset(tmp_path / "tampered.cldc", OWNER, allow_unsigned=True)
    with pytest.raises(ChunkAuthenticationError, match=rf"^samples? ([0-9, …]*\b)?{victim}\b.*failed authentication"):
        dataset.__getitems__([3, victim, 17])
    with pytest.raises(ChunkAuthenticationError, match=rf"^sample {victim}: chunk"):
        dataset[victim]
    loader = DataLoader(dataset, batch_size=32, collate_fn=collate_records)
    with pytest.raises(ChunkAuthenticationError, match=rf"\b{victim}\b"):
        for _ in loader:
            pass
    assert torch.equal(collate_records(dataset.__getitems__([3, 17]))[0], source.tensors[0][[3, 17]])


def test_a_tampered_chunk_is_found_after_good_batches_have_been_read(stored, staging, tmp_path):
    """The failing chunk is named even when the batch reuses the views of earlier batches."""
    _, folder = stored
    _flip_chunk_byte(folder / "data.cldc", tmp_path / "tampered.cldc", 5, folder)
    reader = ContainerReader(tmp_path / "tampered.cldc", OWNER, allow_unsigned=True)
    out = np.zeros((8, reader.header.chunk_size), dtype=np.uint8)
    reader.read_chunks_into(np.array([1, 2, 3, 4]), out[:4])
    reader.read_chunks_into(np.array([1, 2, 3, 4, 6, 7, 8, 9]), out)
    with pytest.raises(ChunkAuthenticationError, match="^chunk 5 failed authentication"):
        reader.read_chunks_into(np.array([1, 2, 5, 7]), out[:4])
    assert not out[:4].any() and out[4:].any()          # the failed batch's rows wiped, no others touched
    reader.close()


def test_an_output_buffer_of_the_wrong_shape_is_refused_before_anything_is_written(stored):
    """Rows narrower than a chunk would make one chunk's plaintext spill into the next row."""
    _, folder = stored
    reader = ContainerReader(folder / "data.cldc", OWNER, pin=PIN, kind="dataset")
    size, chunks = reader.header.chunk_size, np.array([1, 2, 3])
    wrong = {"narrow rows": np.zeros((3, size - 1), np.uint8), "too few rows": np.zeros((2, size), np.uint8),
             "not uint8": np.zeros((3, size), np.int16), "a column slice": np.zeros((3, size + 8), np.uint8)[:, 8:],
             "flat": np.zeros(3 * size, np.uint8), "read-only": np.zeros((3, size), np.uint8)}
    wrong["read-only"].flags.writeable = False
    for name, out in wrong.items():
        with pytest.raises(ValueError, match="one row per chunk"):
            reader.read_chunks_into(chunks, out)
        assert not out.any(), name
    wider = np.zeros((3, size + 5), np.uint8)                              # wider rows are fine
    reader.read_chunks_into(chunks, wider)
    assert [bytes(row[:size]) for row in wider] == [reader.read_chunk(i) for i in (1, 2, 3)] and not wider[:, size:].any()
    reader.close()


def test_a_failed_batch_leaves_no_unauthenticated_plaintext_in_the_output_buffer(stored, staging, tmp_path):
    _, folder = stored
    _flip_chunk_byte(folder / "data.cldc", tmp_path / "tampered.cldc", 2, folder)
    reader = ContainerReader(tmp_path / "tampered.cldc", OWNER, allow_unsigned=True)
    out = np.full((3, reader.header.chunk_size), 0xAA, dtype=np.uint8)
    with pytest.raises(ChunkAuthenticationError, match="chunk 2 failed authentication"):
        reader.read_chunks_into(np.array([1, 2, 3]), out)
    assert not out.any()         # decrypt_into had written chunk 1's and chunk 2's plaintext; all wiped
    reader.close()


@pytest.mark.parametrize("which", ["middle", "final"])
def test_a_chunk_rewritten_by_a_key_holder_is_refused_in_a_batch(stored, staging, tmp_path, which):
    source, folder = stored
    for name in ("data.cldc", "data.cldc.sig"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    signed = EncryptedDataset(tmp_path / "data.cldc", OWNER, pin=PIN)
    reader = signed._reader
    index = 2 if which == "middle" else reader.chunk_count - 1
    forged = reader._decrypt.__self__.encrypt(chunk_nonce(index, which == "final"), reader.read_chunk(index)[::-1],
                                              reader.header.digest)
    blob = bytearray((tmp_path / "data.cldc").read_bytes())
    start = reader.body_offset + index * (reader.header.chunk_size + TAG)
    blob[start:start + len(forged)] = forged
    (tmp_path / "data.cldc").write_bytes(bytes(blob))      # same size, authentic under the data key
    with pytest.raises(ReleaseMismatchError, match=rf"^samples? .*chunk {index} was rewritten"):
        signed.__getitems__(list(range(len(source))))


def test_a_layout_that_overstates_the_final_chunk_is_refused_on_open(tmp_path):
    source = _images(n=10, shape=(3, 8, 8))
    save_plain_dataset(source, tmp_path / "data.rec")
    blob = (tmp_path / "data.rec").read_bytes()
    (tmp_path / "short.rec").write_bytes(blob[:-50])
    with pytest.raises(ContainerFormatError, match="final chunk"):
        PlainRecordDataset(tmp_path / "short.rec")


@given(st.lists(st.integers(0, 40), max_size=30))
@settings(max_examples=200, deadline=None)
def test_adjacent_runs_cover_sorted_indices_with_consecutive_runs(values):
    indices = np.array(sorted(set(values)), dtype=np.int64)
    runs = adjacent_runs(indices)
    assert [i for start, end in runs for i in range(start, end)] == list(range(len(indices)))
    for start, end in runs:
        assert list(indices[start:end]) == list(range(indices[start], indices[start] + end - start))
    assert all(indices[end] != indices[end - 1] + 1 for _, end in runs[:-1])


@given(st.lists(st.integers(0, 60), max_size=40), st.integers(1, 45))
@settings(max_examples=300, deadline=None)
def test_staging_pieces_are_adjacent_runs_cut_at_every_load(values, limit):
    """Each piece is a run of consecutive chunks that stays inside one load of ``limit`` positions."""
    indices = np.array(sorted(set(values)), dtype=np.int64)
    pieces = _pieces(indices, limit)
    assert [i for start, end in pieces for i in range(start, end)] == list(range(len(indices)))
    for start, end in pieces:
        assert list(indices[start:end]) == list(range(indices[start], indices[start] + end - start))
        assert start // limit == (end - 1) // limit
    if limit >= len(indices):
        assert pieces == adjacent_runs(indices)


@given(st.lists(st.integers(0, 2**40), min_size=1, max_size=30))
@settings(max_examples=200, deadline=None)
def test_batched_nonces_are_the_per_chunk_nonces(values):
    indices = np.array(sorted(set(values)), dtype=np.int64)
    last = int(indices[-1]) if len(values) % 2 else int(indices[-1]) + 1
    assert chunk_nonces(indices, last) == [chunk_nonce(int(i), int(i) == last) for i in indices]


@given(st.lists(st.integers(-300, 299), min_size=1, max_size=70))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_batch_of_indices_reads_as_its_samples(stored, staging, indices):
    source, folder = stored
    for dataset in _datasets(folder):
        x, y = collate_records(dataset.__getitems__(indices))
        wanted = torch.tensor(indices) % len(source)
        assert torch.equal(x, source.tensors[0][wanted]) and torch.equal(y, source.tensors[1][wanted])


def test_a_batch_of_large_chunks_is_staged_in_pieces_that_fit(stored, staging):
    """Large chunks are read and decrypted a few at a time: the staging buffer never holds more
    than ``STAGING_BYTES`` (or one chunk), whatever the batch size."""
    source, folder = stored
    reader = ContainerReader(folder / "data.cldc", OWNER, pin=PIN, kind="dataset")
    chunks = np.arange(1, reader.chunk_count)
    out = np.zeros((len(chunks), reader.header.chunk_size), np.uint8)
    reader.read_chunks_into(chunks, out)
    assert [bytes(row) for row in out[:-1]] == [reader.read_chunk(int(i)) for i in chunks[:-1]]
    stride = reader.header.chunk_size + TAG
    staged = reader._raw_rows.nbytes
    assert staged == len(chunks) * stride if len(chunks) * stride <= staging else staged <= max(staging, stride)
    reader.close()


@pytest.mark.parametrize("cut", ["inside the final chunk", "inside its tag"])
def test_a_container_truncated_inside_its_final_chunk_is_refused_in_a_batch(stored, staging, tmp_path, cut):
    """An unsigned container cut short: the batch that reaches the final chunk raises TruncatedError
    (or fails authentication) and leaves nothing in the output buffer; earlier chunks still read."""
    _, folder = stored
    blob = (folder / "data.cldc").read_bytes()
    with ContainerReader(folder / "data.cldc", OWNER, allow_unsigned=True) as reader:
        last_size = reader._last_size                       # bytes of the final chunk, tag included
    (tmp_path / "cut.cldc").write_bytes(blob[:len(blob) - (last_size - 8 if cut == "inside its tag" else 7)])
    reader = ContainerReader(tmp_path / "cut.cldc", OWNER, allow_unsigned=True)
    chunks = np.arange(max(1, reader.chunk_count - 4), reader.chunk_count)
    out = np.full((len(chunks), reader.header.chunk_size), 0xAA, np.uint8)
    error = TruncatedError if cut == "inside its tag" else ChunkAuthenticationError
    with pytest.raises(error, match=f"chunk {reader.chunk_count - 1}"):
        reader.read_chunks_into(chunks, out)
    assert not out.any()
    reader.read_chunks_into(chunks[:-1], out[:-1])
    assert [bytes(row) for row in out[:-1]] == [reader.read_chunk(int(i)) for i in chunks[:-1]]
    reader.close()


def test_a_reader_on_a_file_object_reads_batches_like_one_on_a_path(stored, staging):
    """Without a file descriptor of its own, the reader seeks and reads runs instead of ``preadv``."""
    _, folder = stored
    with open(folder / "data.cldc", "rb") as f:
        by_object = ContainerReader(f, OWNER, allow_unsigned=True)
        assert by_object._fd is None
        by_path = ContainerReader(folder / "data.cldc", OWNER, pin=PIN, kind="dataset")
        last = by_path.chunk_count - 1
        chunks = np.unique([k for k in (1, 2, 4, 7, last - 1, last) if 1 <= k <= last])
        got, wanted = (np.zeros((len(chunks), by_path.header.chunk_size), np.uint8) for _ in range(2))
        by_object.read_chunks_into(chunks, got)
        by_path.read_chunks_into(chunks, wanted)
        assert np.array_equal(got, wanted) and wanted.any()
        assert bytes(got[0]) == by_path.read_chunk(1)
        by_path.close()
