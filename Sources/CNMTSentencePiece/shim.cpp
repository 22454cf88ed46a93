// Forwards the C interface of CNMTSentencePiece.h to libsentencepiece.
#include "CNMTSentencePiece.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

struct nmt_spm {
    sentencepiece::SentencePieceProcessor processor;
};

namespace {

/// A malloc'd copy of `bytes` with a NUL after it.
char *copy(const std::string &bytes) {
    char *result = static_cast<char *>(std::malloc(bytes.size() + 1));
    if (result == nullptr) return nullptr;
    std::memcpy(result, bytes.data(), bytes.size());
    result[bytes.size()] = '\0';
    return result;
}

/// 0, or 1 with the status's message in *error.
int report(const sentencepiece::util::Status &status, char **error) {
    if (status.ok()) return 0;
    if (error != nullptr) *error = copy(status.ToString());
    return 1;
}

}  // namespace

extern "C" {

int nmt_spm_load(const char *bytes, size_t count, nmt_spm **model, char **error) {
    auto *loaded = new nmt_spm();
    if (report(loaded->processor.LoadFromSerializedProto(std::string_view(bytes, count)), error) != 0) {
        delete loaded;
        return 1;
    }
    *model = loaded;
    return 0;
}

void nmt_spm_free(nmt_spm *model) { delete model; }

void nmt_spm_free_buffer(void *buffer) { std::free(buffer); }

int nmt_spm_piece_count(const nmt_spm *model) { return model->processor.GetPieceSize(); }
int nmt_spm_unknown_id(const nmt_spm *model) { return model->processor.unk_id(); }
int nmt_spm_begin_id(const nmt_spm *model) { return model->processor.bos_id(); }
int nmt_spm_end_id(const nmt_spm *model) { return model->processor.eos_id(); }
int nmt_spm_padding_id(const nmt_spm *model) { return model->processor.pad_id(); }

int nmt_spm_id_to_piece(const nmt_spm *model, int id, char **piece, char **error) {
    if (id < 0 || id >= model->processor.GetPieceSize()) {
        *error = copy("id " + std::to_string(id) + " is outside the vocabulary of " +
                      std::to_string(model->processor.GetPieceSize()) + " pieces");
        return 1;
    }
    *piece = copy(model->processor.IdToPiece(id));
    return 0;
}

int nmt_spm_piece_to_id(const nmt_spm *model, const char *piece, size_t length) {
    return model->processor.PieceToId(std::string_view(piece, length));
}

int nmt_spm_encode(
    const nmt_spm *model, const char *text, size_t length, int sample, int nbest, float alpha, int32_t **ids,
    size_t *count, char **error) {
    std::vector<int> result;
    const std::string_view input(text, length);
    const auto status = sample != 0 ? model->processor.SampleEncode(input, nbest, alpha, &result)
                                    : model->processor.Encode(input, &result);
    if (report(status, error) != 0) return 1;
    *count = result.size();
    *ids = static_cast<int32_t *>(std::malloc(sizeof(int32_t) * (result.empty() ? 1 : result.size())));
    if (*ids == nullptr) {
        *error = copy("out of memory for " + std::to_string(result.size()) + " ids");
        return 1;
    }
    for (size_t i = 0; i < result.size(); i++) (*ids)[i] = static_cast<int32_t>(result[i]);
    return 0;
}

int nmt_spm_encode_lines(
    const nmt_spm *model, const char *text, size_t length, int32_t **ids, size_t *idCount, size_t **lineEnds,
    size_t *lineCount, char **error) {
    std::vector<int32_t> all;
    std::vector<size_t> ends;
    std::vector<int> line;
    size_t start = 0;
    while (start < length) {
        const void *newline = memchr(text + start, '\n', length - start);
        const size_t end = newline == nullptr ? length : static_cast<size_t>(static_cast<const char *>(newline) - text);
        if (report(model->processor.Encode(std::string_view(text + start, end - start), &line), error) != 0) return 1;
        all.insert(all.end(), line.begin(), line.end());
        ends.push_back(all.size());
        start = end + 1;
    }
    *ids = static_cast<int32_t *>(std::malloc(sizeof(int32_t) * (all.empty() ? 1 : all.size())));
    *lineEnds = static_cast<size_t *>(std::malloc(sizeof(size_t) * (ends.empty() ? 1 : ends.size())));
    if (*ids == nullptr || *lineEnds == nullptr) {
        std::free(*ids);
        std::free(*lineEnds);
        *error = copy("out of memory for " + std::to_string(all.size()) + " ids");
        return 1;
    }
    std::copy(all.begin(), all.end(), *ids);
    std::copy(ends.begin(), ends.end(), *lineEnds);
    *idCount = all.size();
    *lineCount = ends.size();
    return 0;
}

int nmt_spm_encode_pieces(
    const nmt_spm *model, const char *text, size_t length, char **pieces, size_t *bytes, size_t *count, char **error) {
    std::vector<std::string> result;
    if (report(model->processor.Encode(std::string_view(text, length), &result), error) != 0) return 1;
    std::string joined;
    for (const auto &piece : result) {
        joined += piece;
        joined += '\0';
    }
    *pieces = copy(joined);
    *bytes = joined.size();
    *count = result.size();
    return 0;
}

int nmt_spm_decode(const nmt_spm *model, const int32_t *ids, size_t count, char **text, size_t *length, char **error) {
    const int pieces = model->processor.GetPieceSize();
    std::vector<int> input(count);
    for (size_t i = 0; i < count; i++) {
        if (ids[i] < 0 || ids[i] >= pieces) {
            *error = copy("id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                          " is outside the vocabulary of " + std::to_string(pieces) + " pieces");
            return 1;
        }
        input[i] = ids[i];
    }
    std::string result;
    if (report(model->processor.Decode(input, &result), error) != 0) return 1;
    *text = copy(result);
    *length = result.size();
    return 0;
}

int nmt_spm_decode_pieces(
    const nmt_spm *model, const char *pieces, size_t bytes, size_t count, char **text, size_t *length, char **error) {
    std::vector<std::string> input;
    input.reserve(count);
    const char *cursor = pieces, *end = pieces + bytes;
    for (size_t i = 0; i < count; i++) {
        const char *stop = static_cast<const char *>(memchr(cursor, 0, static_cast<size_t>(end - cursor)));
        if (stop == nullptr) {
            *error = copy("piece " + std::to_string(i) + " is not NUL-terminated within the buffer");
            return 1;
        }
        input.emplace_back(cursor, static_cast<size_t>(stop - cursor));
        cursor = stop + 1;
    }
    std::string result;
    if (report(model->processor.Decode(input, &result), error) != 0) return 1;
    *text = copy(result);
    *length = result.size();
    return 0;
}

int nmt_spm_train(const char *arguments, char **error) {
    return report(sentencepiece::SentencePieceTrainer::Train(arguments), error);
}

void nmt_spm_set_random_seed(uint32_t seed) { sentencepiece::SetRandomGeneratorSeed(seed); }

}  // extern "C"
