"""Pure-Python BPE trainer: the executable spec of :func:`ecgbyte.bpe.train`.

Read it in one sitting (minbpe ``basic.py``, tiktoken ``_educational.py``); it is slow (it recounts
the whole corpus after every merge) and is only used by the tests, never by the product path. The
compiled trainer must return exactly the same :class:`~ecgbyte.bpe.merges.Merges`.

The rules, each pinned by a spec test in ``tests/test_bpe_spec.py``:

1. The corpus is a list of sequences (one lead of one ECG each); a pair never spans two of them.
2. A pair's count is the number of occurrences a left-to-right merge would replace: "aaaa" holds
   two "aa", "aaa" one (a run of k equal tokens holds k // 2 pairs).
3. The pair with the highest count wins; ties go to the lowest ``(left, right)`` id pair.
4. Training stops after ``n_merges`` merges, or when no allowed pair reaches ``min_frequency``;
   a pair whose token would be longer than ``max_token_length`` symbols is never allowed.
5. A merge's id is the id of its string if that string is already in the vocabulary, else the
   next free id (as HF ``tokenizers``' BpeTrainer).
"""

from __future__ import annotations

from collections.abc import Sequence

from ecgbyte.bpe.merges import Merges, default_alphabet


def get_stats(seqs: list[list[int]]) -> dict[tuple[int, int], int]:
    """Count the pairs a left-to-right merge would replace, summed over all sequences.

    >>> get_stats([[0, 0, 0, 0, 1], [1, 0]])   # "aaaab", "ba": aa twice (not three), ab, ba
    {(0, 0): 2, (0, 1): 1, (1, 0): 1}
    """
    counts: dict[tuple[int, int], int] = {}
    for seq in seqs:
        run = 1  # length of the run of equal tokens that ends at seq[i]
        for i in range(len(seq) - 1):
            pair = (seq[i], seq[i + 1])
            if pair[0] == pair[1]:
                run += 1
                if run % 2:  # the 3rd, 5th... token of a run starts no new pair: "aaa" is "aa"+"a"
                    continue
            else:
                run = 1
            counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge(seq: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of ``pair`` in ``seq`` by ``new_id``, scanning left to right.

    >>> merge([0, 0, 0, 1, 0, 0], (0, 0), 26)   # "aaabaa" -> "Aab" + "A" with A = "aa"
    [26, 0, 1, 26]
    """
    out: list[int] = []
    i = 0
    while i < len(seq):
        if i + 1 < len(seq) and (seq[i], seq[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(seq[i])
            i += 1
    return out


def train(
    sequences: Sequence[Sequence[int]],
    *,
    n_merges: int,
    min_frequency: int = 2,
    max_token_length: int | None = None,
    alphabet_size: int = 26,
    progress: bool = False,
) -> Merges:
    """Learn up to ``n_merges`` merges from ``sequences`` (symbol codes ``0..alphabet_size-1``).

    Same signature and result as :func:`ecgbyte.bpe.train`; no input validation, no dedupe.
    ``progress`` is accepted for parity and ignored.

    >>> m = train([[0, 0, 0, 0, 1, 0, 0]], n_merges=5, alphabet_size=2, min_frequency=1)
    >>> m.vocab()[2:]   # aa (3 times), then all counts are 1 and the lowest pair wins: b+aa...
    ['aa', 'baa', 'aaaa', 'aaaabaa']
    """
    alphabet = default_alphabet(alphabet_size)
    vocab = list(alphabet)  # token string by id; the merges only ever append to it
    ids = {s: i for i, s in enumerate(vocab)}
    seqs = [[int(c) for c in s] for s in sequences]
    pairs: list[tuple[int, int]] = []
    new_ids: list[int] = []
    for _ in range(n_merges):
        stats = get_stats(seqs)
        allowed = [
            (count, pair)
            for pair, count in stats.items()
            if count >= min_frequency
            and (max_token_length is None or len(vocab[pair[0]]) + len(vocab[pair[1]]) <= max_token_length)
        ]
        if not allowed:
            break
        # highest count first; among equal counts the lowest (left, right) pair
        _, best = min(allowed, key=lambda cp: (-cp[0], cp[1]))
        token = vocab[best[0]] + vocab[best[1]]
        if token not in ids:  # "ab"+"c" then "a"+"bc": both give "abc" and share its id
            ids[token] = len(vocab)
            vocab.append(token)
        pairs.append(best)
        new_ids.append(ids[token])
        seqs = [merge(seq, best, ids[token]) for seq in seqs]
    return Merges(pairs=pairs, ids=new_ids, alphabet_size=alphabet_size, alphabet=alphabet)
