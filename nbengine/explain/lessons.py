"""The lessons' worked-example inputs, in one place: the traces, the tutorials and the
tests read them from here.

Convolution: the lesson's 4×4 input X and 3×3 filter F. The first window and the filter
are read off the lesson's sum 1·1+0·0+2·0+0·2+2·1+1·3+0·0+2·0+1·1 = 7 (window values
times filter values); the other cells are chosen so the four outputs, sliding right and
then down-left, are the lesson's 7, 6, 10, 7. The cells X[0,3], X[3,0], X[3,1] meet only
zeros of the filter, so any values do there. X[3,3] must be -3: the 6 forces X[1,3] = 0
and X[2,3] = 1, the 10 forces X[3,2] = 5, and the last window is then 10 + X[3,3].

Max pooling: a 4×4 map whose 2×2 windows have the lesson's maxima 5, 8, 5, 4, each in
another corner of its window; and an upstream gradient with four different values, so it
is plain which output's gradient went where.

Attention: the first row of QKᵀ for "I am good" in the lesson, 110, 90, 80, with d_k = 64;
and the lesson's sentence whose "it" a trained model resolves.
"""

from __future__ import annotations

CONV_INPUT = ((1, 0, 2, 3), (0, 2, 1, 0), (0, 2, 1, 1), (2, 1, 5, -3))
CONV_FILTER = ((1, 0, 0), (2, 1, 3), (0, 0, 1))
CONV_OUTPUT = ((7, 6), (10, 7))  # what the lesson's worked example arrives at

POOL_INPUT = ((1, 5, 2, 1), (3, 0, 8, 6), (5, 2, 1, 3), (1, 4, 2, 4))
POOL_UPSTREAM = ((1, 2), (3, 4))
POOL_OUTPUT = ((5, 8), (5, 4))

ATTENTION_TOKENS = ("I", "am", "good")  # the lesson's words: data, in every language
ATTENTION_SENTENCE = " ".join(ATTENTION_TOKENS)
ATTENTION_SCORES = (110.0, 90.0, 80.0)
ATTENTION_DK = 64
# what a trained pronoun model reads by default (its words are data, in every language)
PRONOUN_SENTENCE = " ".join(("A", "cat", "ate", "the", "fish", "because", "it", "was", "hungry"))
