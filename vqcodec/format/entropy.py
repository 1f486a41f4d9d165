"""Adaptive binary arithmetic coding of the index, codebook and means sections (.vqc v2 and v3).

docs/format.md specifies every step; this module is its implementation. Each
model is one kernel that both encodes and decodes (`decoding` chooses), so
the two directions cannot drift apart. Only integer arithmetic is used, so
every platform produces and reads the same bytes.

The coder is a carry-less binary arithmetic coder on 32-bit bounds. The
probabilities come from adaptive counters (16-bit probability, faster
adaptation while a counter is young); the index model mixes several
counters' predictions in the logistic domain with online-learned weights.
"""
import numpy as np
from numba import njit

from ..errors import FormatError

# --- tables, built once from the 33 points the format lists --------------------------------

SQUASH_POINTS = (1, 2, 4, 6, 10, 17, 27, 45, 74, 120, 194, 311, 488, 747, 1102, 1546, 2048, 2550, 2994, 3349, 3608,
                 3785, 3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090, 4092, 4094, 4095)
STRETCH_LIMIT = 2047


def _squash_table() -> np.ndarray:
    """squash(d) for d = -2047..2047, at index d + 2047: a 12-bit probability from a logit in 1/256 units."""
    d = np.arange(-STRETCH_LIMIT, STRETCH_LIMIT + 1)
    points = np.array(SQUASH_POINTS, dtype=np.int64)
    j, f = (d >> 7) + 16, d & 127
    return ((points[j] * (128 - f) + points[j + 1] * f + 64) >> 7).astype(np.int32)


SQUASH = _squash_table()
# stretch(p), squash's inverse: the smallest d with squash(d) >= p (squash(2047) = 4095, so there is one)
STRETCH = np.searchsorted(SQUASH, np.arange(4096)).astype(np.int32) - STRETCH_LIMIT

COUNTER_LIMIT = 30  # a counter's rate is 1 / (n + 1.5) for its first 30 updates, then 1 / 31.5
DIVISORS = np.array([131072 // (2 * n + 3) for n in range(COUNTER_LIMIT + 1)], dtype=np.int32)
COUNTER_START = 32768 << 8  # probability 1/2, no updates yet; a counter is (probability << 8) | n
WEIGHT_START = 16384  # mixer weights are 16.16 fixed point: 1/4
BIAS = 256  # the mixers' constant input
MAX_TABLE_BITS = 20  # a context table of the index model has at most 2^20 counters


# --- the coder ------------------------------------------------------------------------------


@njit(cache=True)
def _code_bit(state, buf, p12, bit, decoding):
    """Code one bit whose probability of being 1 is p12 / 4096; returns the bit (decoded or given).

    state: [x1, x2, x (decoder only), bytes written or read]."""
    x1 = state[0]
    x2 = state[1]
    xmid = x1 + ((x2 - x1) >> 12) * p12
    if decoding:
        bit = 1 if state[2] <= xmid else 0
    if bit:
        x2 = xmid
    else:
        x1 = xmid + 1
    while ((x1 ^ x2) & 0xFF000000) == 0:
        pos = state[3]
        if decoding:
            state[2] = ((state[2] << 8) & 0xFFFFFFFF) | (buf[pos] if pos < buf.shape[0] else 0)
        elif pos < buf.shape[0]:
            buf[pos] = x2 >> 24
        state[3] = pos + 1
        x1 = (x1 << 8) & 0xFFFFFFFF
        x2 = ((x2 << 8) & 0xFFFFFFFF) | 255
    state[0] = x1
    state[1] = x2
    return bit


def _start(payload: bytes | None, capacity: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(state, buffer) to encode into a buffer of `capacity` bytes, or to decode `payload`."""
    if payload is None:
        return np.array([0, 0xFFFFFFFF, 0, 0], dtype=np.int64), np.zeros(capacity, dtype=np.uint8)
    buf = np.frombuffer(payload, dtype=np.uint8).copy()  # writable: one kernel serves both directions
    first = int.from_bytes(bytes(payload[:4]).ljust(4, b"\0"), "big")
    return np.array([0, 0xFFFFFFFF, first, 4], dtype=np.int64), buf


def _tail(state: np.ndarray) -> bytes:
    """What the encoder writes after its last decision: nothing if x1 = 0, else the byte that
    starts a value between x1 and x2 (the decoder reads zeros past the end)."""
    x1 = int(state[0])
    return b"" if x1 == 0 else bytes([(x1 >> 24) + (1 if x1 & 0xFFFFFF else 0)])


def _finish(state: np.ndarray, buf: np.ndarray) -> bytes | None:
    """The encoded bytes, or None if they overflowed the buffer."""
    data = bytes(buf[: int(state[3])]) + _tail(state)
    return None if len(data) > len(buf) else data


def _check_end(state: np.ndarray, payload: bytes, what: str) -> None:
    """The stream must be exactly what an encoder writes for the decisions decoded: the bytes
    the decoder shifted in (it reads 4 ahead), then the final byte, and nothing else."""
    tail = _tail(state)
    end = int(state[3]) - 4 + len(tail)  # where an encoder's stream ends
    if end > len(payload):
        raise FormatError(f"the {what} stream is truncated")
    if end < len(payload):
        raise FormatError(f"the {what} stream has {len(payload) - end} byte(s) after its end")
    if tail and payload[-1:] != tail:
        raise FormatError(f"the {what} stream does not end as an encoder ends it")


# --- counters and mixers --------------------------------------------------------------------


@njit(cache=True)
def _p12(counter):
    """A counter's probability of a 1, in 12 bits, at least 1."""
    return max(counter >> 12, 1)


@njit(cache=True)
def _update(table, j, bit, divisors):
    counter = table[j]
    n = counter & 255
    p = counter >> 8
    d = divisors[n]
    if bit:
        p += ((65536 - p) * d) >> 16
    else:
        p -= (p * d) >> 16
    table[j] = (p << 8) | min(n + 1, divisors.shape[0] - 1)


@njit(cache=True)
def _mix(weights, at, s0, s1, s2, s3, s4, squash):
    """Mixed 12-bit probability of the inputs (logits) with the weights at weights[at : at + 5], 16.16 fixed point."""
    dot = (np.int64(weights[at]) * s0 + np.int64(weights[at + 1]) * s1 + np.int64(weights[at + 2]) * s2
           + np.int64(weights[at + 3]) * s3 + np.int64(weights[at + 4]) * s4) >> 16
    return np.int64(squash[min(max(dot, -2047), 2047) + 2047])


@njit(cache=True)
def _learn(weights, at, s0, s1, s2, s3, s4, p12, bit):
    """Move each weight by its input times the error; weights are 32-bit and wrap around."""
    err = (bit << 12) - p12
    weights[at] = weights[at] + ((s0 * err) >> 10)
    weights[at + 1] = weights[at + 1] + ((s1 * err) >> 10)
    weights[at + 2] = weights[at + 2] + ((s2 * err) >> 10)
    weights[at + 3] = weights[at + 3] + ((s3 * err) >> 10)
    weights[at + 4] = weights[at + 4] + ((s4 * err) >> 10)


# --- the index model --------------------------------------------------------------------------


def index_tables(k: int) -> tuple:
    """The index model's counters and weights for a codebook of k, in their starting state.

    Allocated here rather than in the kernel, so that their size (set by the
    validated header alone, at most about 13 MiB) is visible to the caller."""
    w = (k - 1).bit_length()
    cbits = min(w, MAX_TABLE_BITS - w)
    contexts = np.full(3 << (cbits + w), COUNTER_START, dtype=np.int32)  # the left, above and above-right tables
    order0 = np.full(1 << w, COUNTER_START, dtype=np.int32)
    flags = np.full(16, COUNTER_START, dtype=np.int32)
    candidates = np.full(4 * k, COUNTER_START, dtype=np.int32)
    tree_weights = np.full(4 * max(w, 1) * 5, WEIGHT_START, dtype=np.int32)  # 5 per mixer
    flag_weights = np.full(16 * 5, WEIGHT_START, dtype=np.int32)  # 3 used per mixer, 5 for one mixing code
    return contexts, order0, flags, candidates, tree_weights, flag_weights


@njit(cache=True, nogil=True)
def _index_kernel(g, across, k, w, decoding, state, buf, capacity, contexts, order0, flags, candidates,
                  tree_weights, flag_weights, divisors, stretch, squash):
    """Code the indices g (row by row over a grid `across` wide, w = ceil(log2 k) bits each) in place.

    Returns -1 when done, -2 when the encoded bytes exceeded `capacity`, or the
    position of a decoded index that is not below k."""
    cbits = min(w, MAX_TABLE_BITS - w)
    shift = w - cbits
    table = np.int64(1) << (cbits + w)
    bias, unused = np.int64(BIAS), np.int64(0)  # typed as the tree's inputs: each helper compiles once
    n = g.shape[0]
    for i in range(n):
        r = i // across
        c = i - r * across
        x = np.int64(g[i]) if not decoding else np.int64(0)
        left = above = above_left = above_right = np.int64(-1)  # -1: outside the grid
        if c > 0:
            left = np.int64(g[i - 1])
        if r > 0:
            above = np.int64(g[i - across])
            if c > 0:
                above_left = np.int64(g[i - across - 1])
            if c + 1 < across:
                above_right = np.int64(g[i - across + 1])
        done = False
        for flag in range(2):  # "same as the left neighbour", then "same as the one above"
            if flag == 0:
                if left < 0:
                    continue
                candidate = left
                ctx = (above == left) + 2 * (above_left == left) + 4 * (above_right == left)
                cand = 4 * left + (above == left)
            else:
                if done or above < 0 or above == left:
                    continue
                candidate = above
                ctx = 8 + (above_left == above) + 2 * (above_right == above) + 4 * (left < 0)
                cand = 4 * above + 2
            s0 = np.int64(stretch[_p12(flags[ctx])])
            s1 = np.int64(stretch[_p12(candidates[cand])])
            p = _mix(flag_weights, 5 * ctx, s0, s1, bias, unused, unused, squash)
            bit = _code_bit(state, buf, p, 1 if x == candidate else 0, decoding)
            _learn(flag_weights, 5 * ctx, s0, s1, bias, unused, unused, p, bit)
            _update(flags, ctx, bit, divisors)
            _update(candidates, cand, bit, divisors)
            if bit:
                x = candidate
                done = True
        if not done:  # the index itself, most significant bit first, down a binary tree
            ref_left = left if left >= 0 else (above if above >= 0 else 0)
            ref_above = above if above >= 0 else ref_left
            ref_right = above_right if above_right >= 0 else ref_above
            base0 = (ref_left >> shift) << w
            base1 = table + ((ref_above >> shift) << w)
            base2 = 2 * table + ((ref_right >> shift) << w)
            edge = (left < 0) + 2 * (above < 0)
            node = np.int64(1)
            for depth in range(w):
                s0 = np.int64(stretch[_p12(order0[node])])
                s1 = np.int64(stretch[_p12(contexts[base0 + node])])
                s2 = np.int64(stretch[_p12(contexts[base1 + node])])
                s3 = np.int64(stretch[_p12(contexts[base2 + node])])
                at = 5 * (4 * depth + edge)
                p = _mix(tree_weights, at, s0, s1, s2, s3, bias, squash)
                bit = _code_bit(state, buf, p, (x >> (w - 1 - depth)) & 1, decoding)
                _learn(tree_weights, at, s0, s1, s2, s3, bias, p, bit)
                _update(order0, node, bit, divisors)
                _update(contexts, base0 + node, bit, divisors)
                _update(contexts, base1 + node, bit, divisors)
                _update(contexts, base2 + node, bit, divisors)
                node = 2 * node + bit
            x = node - (np.int64(1) << w)
            if decoding and x >= k:
                return i
        if decoding:
            g[i] = x
        elif state[3] > capacity:
            return -2
    return -1


def encode_indices(indices: np.ndarray, across: int, k: int, limit: int) -> bytes | None:
    """The context-coded index stream, or None if it would take `limit` bytes or more."""
    state, buf = _start(None, limit)
    g = np.ascontiguousarray(indices, dtype=np.uint16)
    w = (k - 1).bit_length()
    if _index_kernel(g, across, k, w, False, state, buf, limit, *index_tables(k), DIVISORS, STRETCH, SQUASH) == -2:
        return None
    data = _finish(state, buf)
    return data if data is not None and len(data) < limit else None


def decode_indices(payload: bytes, count: int, across: int, k: int) -> np.ndarray:
    """`count` indices (uint16) from a context-coded stream; FormatError if it is not one."""
    state, buf = _start(payload)
    g = np.zeros(count, dtype=np.uint16)
    bad = _index_kernel(g, across, k, (k - 1).bit_length(), True, state, buf, 0, *index_tables(k), DIVISORS, STRETCH,
                        SQUASH)
    if bad >= 0:
        raise FormatError(f"index {bad} decodes beyond the codebook of {k}")
    _check_end(state, payload, "index")
    return g


@njit(cache=True)
def _code_residual(state, buf, counters, ctx, e, divisors, decoding):
    """Code a residual e in -128..128 with the 80 counters from counters[ctx]: is it zero, its
    sign, the class of its magnitude (the position of the highest bit) in unary, then the bits
    below the highest, most significant first. Returns e (decoded or given)."""
    if _code_counted(state, buf, counters, ctx, 1 if e == 0 else 0, divisors, decoding):
        return np.int64(0)
    negative = _code_counted(state, buf, counters, ctx + 1, 1 if e < 0 else 0, divisors, decoding)
    m = abs(e)
    cls = 0
    while cls < 7 and _code_counted(state, buf, counters, ctx + 2 + cls, 1 if m >> (cls + 1) else 0, divisors,
                                     decoding):
        cls += 1
    value = np.int64(1)
    for b in range(cls - 1, -1, -1):
        value = 2 * value + _code_counted(state, buf, counters, ctx + 10 + 8 * cls + b, (m >> b) & 1, divisors,
                                          decoding)
    return -value if negative else value


@njit(cache=True)
def _code_counted(state, buf, counters, j, bit, divisors, decoding):
    """Code a bit with the probability of counter j, then update the counter; returns the bit."""
    bit = _code_bit(state, buf, _p12(counters[j]), bit, decoding)
    _update(counters, j, bit, divisors)
    return bit


@njit(cache=True)
def _med(left, up, corner):
    """The median edge detector of LOCO-I: left or up across an edge, else the plane through the three."""
    if corner >= max(left, up):
        return min(left, up)
    if corner <= min(left, up):
        return max(left, up)
    return left + up - corner


@njit(cache=True)
def _level(activity):
    """0..7: how many bits the activity needs, capped at 7."""
    level = 0
    while level < 7 and activity >> level:
        level += 1
    return level


# --- the codebook model -----------------------------------------------------------------------

CODEBOOK_CONTEXTS = 32  # channel (4) x neighbourhood activity (8)
RESIDUAL_COUNTERS = 80  # per context: zero, sign, 8 magnitude classes, 8 x 8 mantissa bits


@njit(cache=True, nogil=True)
def _codebook_kernel(book, block, channels, decoding, state, buf, capacity, counters, divisors):
    """Code the codebook (K x D uint8, samples in (row, column, channel) order) in place.

    Each sample is predicted from its codeword (median edge detector on the
    same channel, plus the previous channel's prediction error) and the
    residual is coded bit by bit. Returns -1, or -2 when the encoded bytes
    exceeded `capacity`."""
    k, d = book.shape
    base = np.empty(d, dtype=np.int64)  # this codeword's predictions before the channel correction
    residual = np.empty(d, dtype=np.int64)  # |coded residual| of this codeword's samples
    previous = np.empty(d, dtype=np.int64)  # ... and of the previous codeword's
    for t in range(d):
        previous[t] = 0
    row = block * channels
    for j in range(k):
        for t in range(d):
            ch = t % channels
            x = (t // channels) % block
            y = t // row
            if x > 0 and y > 0:
                left = np.int64(book[j, t - channels])
                up = np.int64(book[j, t - row])
                corner = np.int64(book[j, t - row - channels])
                guess = _med(left, up, corner)
            elif x > 0:
                guess = np.int64(book[j, t - channels])
            elif y > 0:
                guess = np.int64(book[j, t - row])
            else:
                guess = np.int64(book[j - 1, t]) if j > 0 else np.int64(128)
            base[t] = guess
            prediction = guess
            if ch > 0:
                prediction = min(max(guess + np.int64(book[j, t - 1]) - base[t - 1], 0), 255)
            activity = previous[t] + (residual[t - channels] if x > 0 else 0) + (residual[t - row] if y > 0 else 0)
            ctx = RESIDUAL_COUNTERS * (8 * min(ch, 3) + _level(activity))
            e = ((np.int64(book[j, t]) - prediction + 128) & 255) - 128 if not decoding else np.int64(0)
            e = _code_residual(state, buf, counters, ctx, e, divisors, decoding)
            if decoding:
                book[j, t] = (prediction + e) & 255
            residual[t] = abs(e)
        for t in range(d):
            previous[t] = residual[t]
        if not decoding and state[3] > capacity:
            return -2
    return -1


def encode_codebook(codebook: np.ndarray, block: int, channels: int, limit: int) -> bytes | None:
    """The predicted codebook stream, or None if it would take `limit` bytes or more."""
    state, buf = _start(None, limit)
    counters = np.full(CODEBOOK_CONTEXTS * RESIDUAL_COUNTERS, COUNTER_START, dtype=np.int32)
    book = np.ascontiguousarray(codebook, dtype=np.uint8)
    if _codebook_kernel(book, block, channels, False, state, buf, limit, counters, DIVISORS) == -2:
        return None
    data = _finish(state, buf)
    return data if data is not None and len(data) < limit else None


def decode_codebook(payload: bytes, k: int, block: int, channels: int) -> np.ndarray:
    """The K x D codebook from a predicted stream; FormatError if it is not one."""
    state, buf = _start(payload)
    counters = np.full(CODEBOOK_CONTEXTS * RESIDUAL_COUNTERS, COUNTER_START, dtype=np.int32)
    book = np.zeros((k, block * block * channels), dtype=np.uint8)
    _codebook_kernel(book, block, channels, True, state, buf, 0, counters, DIVISORS)
    _check_end(state, payload, "codebook")
    return book


# --- the block-mean model (.vqc v3) -------------------------------------------------------------

MEAN_CONTEXTS = 8  # neighbourhood activity


@njit(cache=True, nogil=True)
def _means_kernel(grid, across, decoding, state, buf, capacity, counters, divisors):
    """Code the quantized block means (uint8, row by row over a grid `across` wide) in place.

    Each is predicted by the median edge detector from its decoded left, upper
    and upper-left neighbours, and the residual (mod 256) is coded with
    counters chosen by how busy the neighbourhood is. Returns -1, or -2 when
    the encoded bytes exceeded `capacity`."""
    n = grid.shape[0]
    residual = np.empty(n, dtype=np.int64)  # |coded residual| of every cell so far
    for i in range(n):
        r = i // across
        c = i - r * across
        activity = np.int64(0)
        if r > 0 and c > 0:
            left = np.int64(grid[i - 1])
            up = np.int64(grid[i - across])
            corner = np.int64(grid[i - across - 1])
            prediction = _med(left, up, corner)
            activity = abs(left - corner) + abs(up - corner) + residual[i - 1] + residual[i - across]
        elif c > 0:
            prediction = np.int64(grid[i - 1])
            activity = residual[i - 1]
        elif r > 0:
            prediction = np.int64(grid[i - across])
            activity = residual[i - across]
        else:
            prediction = np.int64(0)
        ctx = RESIDUAL_COUNTERS * _level(activity)
        e = ((np.int64(grid[i]) - prediction + 128) & 255) - 128 if not decoding else np.int64(0)
        e = _code_residual(state, buf, counters, ctx, e, divisors, decoding)
        if decoding:
            grid[i] = (prediction + e) & 255
        residual[i] = abs(e)
        if not decoding and state[3] > capacity:
            return -2
    return -1


def encode_means(grid: np.ndarray, limit: int) -> bytes:
    """The coded stream of a 2-D grid of quantized means (uint8); OverflowError past `limit` bytes."""
    state, buf = _start(None, limit)
    counters = np.full(MEAN_CONTEXTS * RESIDUAL_COUNTERS, COUNTER_START, dtype=np.int32)
    flat = np.ascontiguousarray(grid, dtype=np.uint8).ravel()
    data = None
    if _means_kernel(flat, grid.shape[1], False, state, buf, limit, counters, DIVISORS) == -1:
        data = _finish(state, buf)
    if data is None:
        raise OverflowError(f"the means took more than {limit} bytes")
    return data


def decode_means(payload: bytes, rows: int, across: int) -> np.ndarray:
    """The rows x across grid of quantized means from a coded stream; FormatError if it is not one."""
    state, buf = _start(payload)
    counters = np.full(MEAN_CONTEXTS * RESIDUAL_COUNTERS, COUNTER_START, dtype=np.int32)
    flat = np.zeros(rows * across, dtype=np.uint8)
    _means_kernel(flat, across, True, state, buf, 0, counters, DIVISORS)
    _check_end(state, payload, "means")
    return flat.reshape(rows, across)
