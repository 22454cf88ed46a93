// A C interface to Debian's libsentencepiece (the C++ library the Python package and
// the peers use), for NMTData's SentencePiece type. Nothing here reimplements the
// library: each function forwards to SentencePieceProcessor or SentencePieceTrainer and
// turns its status into a message.
//
// Errors: a function that can fail returns 0 on success and non-zero on failure, with a
// message in *error (allocated; free it with nmt_spm_free_buffer). Buffers it returns
// (ids, text, pieces) are allocated too and freed the same way.
#ifndef CNMTSENTENCEPIECE_H
#define CNMTSENTENCEPIECE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A loaded model (opaque).
typedef struct nmt_spm nmt_spm;

/// Loads the serialized model `bytes` (the contents of a `.model` file).
int nmt_spm_load(const char *bytes, size_t count, nmt_spm **model, char **error);

/// Frees a model.
void nmt_spm_free(nmt_spm *model);

/// Frees a buffer a function of this header allocated.
void nmt_spm_free_buffer(void *buffer);

/// Pieces in the vocabulary.
int nmt_spm_piece_count(const nmt_spm *model);

/// The special ids (-1 when the model has none): unknown, begin, end, padding.
int nmt_spm_unknown_id(const nmt_spm *model);
int nmt_spm_begin_id(const nmt_spm *model);
int nmt_spm_end_id(const nmt_spm *model);
int nmt_spm_padding_id(const nmt_spm *model);

/// The piece of `id` (allocated, NUL-terminated), or an error for an id out of range.
int nmt_spm_id_to_piece(const nmt_spm *model, int id, char **piece, char **error);

/// The id of `piece` (the unknown id when the vocabulary lacks it).
int nmt_spm_piece_to_id(const nmt_spm *model, const char *piece, size_t length);

/// Encodes `length` bytes of UTF-8 `text` into ids; with `nbest` != 0 (or `alpha` > 0 for
/// BPE dropout) draws one segmentation at random (subword regularization: `nbest` < 0
/// samples from all, > 1 from the n best, with smoothing `alpha`).
int nmt_spm_encode(
    const nmt_spm *model, const char *text, size_t length, int sample, int nbest, float alpha, int32_t **ids,
    size_t *count, char **error);

/// Encodes into pieces: `count` pieces, each NUL-terminated, one after another in `*pieces`.
int nmt_spm_encode_pieces(
    const nmt_spm *model, const char *text, size_t length, char **pieces, size_t *bytes, size_t *count, char **error);

/// Encodes every line of `length` bytes of UTF-8 `text` (lines end at '\n'; a final '\n'
/// starts no further line), as spm_encode does, into one array of ids (`*ids`, `*idCount`)
/// and each line's end offset in it (`*lineEnds`, `*lineCount`), both allocated. One id
/// vector is reused across lines, so a file costs two allocations rather than two a line.
int nmt_spm_encode_lines(
    const nmt_spm *model, const char *text, size_t length, int32_t **ids, size_t *idCount, size_t **lineEnds,
    size_t *lineCount, char **error);

/// Decodes `count` ids into UTF-8 text (allocated, NUL-terminated, `*length` bytes).
int nmt_spm_decode(const nmt_spm *model, const int32_t *ids, size_t count, char **text, size_t *length, char **error);

/// Decodes `count` pieces, given as consecutive NUL-terminated UTF-8 strings in `bytes`
/// bytes, into text (allocated, NUL-terminated, `*length` bytes), as the library's
/// DecodePieces (a piece outside the vocabulary is written as it is).
int nmt_spm_decode_pieces(
    const nmt_spm *model, const char *pieces, size_t bytes, size_t count, char **text, size_t *length, char **error);

/// Trains a model with the trainer's flags (`--input=... --model_prefix=... --vocab_size=...`),
/// writing PREFIX.model and PREFIX.vocab.
int nmt_spm_train(const char *arguments, char **error);

/// Seeds the random generator that sampling draws from (the library's global one).
void nmt_spm_set_random_seed(uint32_t seed);

#ifdef __cplusplus
}
#endif

#endif
