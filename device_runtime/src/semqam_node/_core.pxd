# C declarations of the semqam C99 core (``csrc/semqam_core.h``) for the ``_core`` binding.
# Cython reads this file before ``_core.pyx``; keep it in step with the header.

from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t

cdef extern from "semqam_core.h" nogil:
    ctypedef int32_t sq_status
    enum:
        SQ_OK
        SQ_ERR_NULL
        SQ_ERR_ARG
        SQ_ERR_K_RANGE
        SQ_ERR_LIMIT
        SQ_ERR_QUANT
        SQ_ERR_SHAPE
        SQ_ERR_BUFFER
        SQ_ERR_INDEX
        SQ_MAX_N
        SQ_MAX_D
        SQ_MAX_M
        SQ_MAX_LAYER_WIDTH
        SQ_MAX_CHAIN_LAYERS
        SQ_MAX_POLICY_LEN
        SQ_GRAPH_SCRATCH_BYTES
        SQ_ENCODE_SCRATCH_BYTES
        SQ_DOUBLE_ROUNDING
    const char *SQ_ROUNDING_NAME

    ctypedef struct sq_fc_layer:
        const int8_t *weights
        const int32_t *bias
        const double *scale
        const int32_t *multiplier
        const int32_t *shift
        int32_t in_dim
        int32_t out_dim
        int32_t input_offset
        int32_t output_offset
        int32_t act_min
        int32_t act_max

    ctypedef struct sq_fc16_layer:
        const int8_t *weights
        const int64_t *bias
        const double *scale
        const int32_t *multiplier
        const int32_t *shift
        int32_t in_dim
        int32_t out_dim
        int32_t act_min
        int32_t act_max

    ctypedef struct sq_graph:
        const sq_fc_layer *trunk
        int32_t n_trunk
        const sq_fc_layer *z_head
        int32_t n_z
        const sq_fc_layer *sci_head
        int32_t n_sci
        const int8_t *logistic_lut
        int32_t input_size
        int32_t n_concepts
        int32_t latent_dim
        int32_t rank_by_sci

    ctypedef struct sq_policy:
        const uint16_t *k
        int32_t len
        int32_t snr_min_cdb
        int32_t step_cdb

    const char *sq_status_name(sq_status status)
    sq_status sq_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift,
                                                  int32_t *out)
    sq_status sq_mbqm_single_rounding(int32_t x, int32_t multiplier, int32_t shift, int32_t *out)
    sq_status sq_mbqm_double_rounding(int32_t x, int32_t multiplier, int32_t shift, int32_t *out)
    sq_status sq_multiply_by_scale(int32_t x, double scale, int32_t *out)
    sq_status sq_requantize(int32_t acc, int32_t multiplier, int32_t shift,
                            int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *out)
    sq_status sq_fc_check(const sq_fc_layer *layer)
    sq_status sq_fc_int8(const sq_fc_layer *layer, const int8_t *x, int8_t *y)
    sq_status sq_mbqm64(int64_t x, int32_t multiplier, int32_t shift, int32_t *out)
    sq_status sq_fc16_check(const sq_fc16_layer *layer)
    sq_status sq_fc_s16x8(const sq_fc16_layer *layer, const int16_t *x, int16_t *y)
    sq_status sq_logistic_lut(const int8_t *lut, const int8_t *x, int32_t n, int8_t *y)
    sq_status sq_input_from_u8(const uint8_t *u, int32_t n, int8_t *q)
    sq_status sq_graph_check(const sq_graph *graph, int32_t *scratch_bytes)
    sq_status sq_graph_run(const sq_graph *graph, const int8_t *q, int8_t *scratch,
                           int32_t scratch_bytes, int8_t *z, int8_t *logit, int8_t *s)
    sq_status sq_top_k(const int8_t *scores, int32_t n, int32_t k, uint16_t *positions)
    sq_status sq_nearest_codewords(const int8_t *z, int32_t n, int32_t d,
                                   const uint16_t *positions, int32_t k,
                                   const int8_t *codebook, int32_t m, uint16_t *indices)
    sq_status sq_map_symbols(const uint16_t *indices, int32_t k, const int16_t *table,
                             int32_t m, int16_t *iq)
    sq_status sq_policy_k(const sq_policy *policy, int16_t snr_cdb, int32_t n, uint16_t *k)
    sq_status sq_position_bitmap(const uint16_t *positions, int32_t k, int32_t n,
                                 uint8_t *bitmap, int32_t bitmap_bytes)
    ctypedef struct sq_graph16:
        const sq_fc16_layer *trunk
        int32_t n_trunk
        const sq_fc16_layer *z_head
        int32_t n_z
        const sq_fc16_layer *sci_head
        int32_t n_sci
        const int16_t *input_lut
        int32_t input_size
        int32_t n_concepts
        int32_t latent_dim
    ctypedef struct sq_graph16_prepared:
        int32_t run_scratch
        int32_t encode_scratch
    sq_status sq_graph16_prepare(const sq_graph16 *graph, sq_graph16_prepared *prepared)
    sq_status sq_graph16_run_prepared(const sq_graph16_prepared *prepared, const uint8_t *u,
                                      int16_t *scratch, int32_t scratch_elems, int16_t *z,
                                      int16_t *logit)
    sq_status sq_top_k16(const int16_t *scores, int32_t n, int32_t k, uint16_t *positions)
    sq_status sq_nearest_codewords16(const int16_t *z, int32_t n, int32_t d,
                                     const uint16_t *positions, int32_t k,
                                     const int16_t *codebook, int32_t m, uint16_t *indices)
    ctypedef struct sq_codebook16:
        int32_t order
        int32_t latent_dim
    sq_status sq_codebook16_prepare(const int16_t *codebook, int32_t m, int32_t d,
                                    int64_t *norms, int32_t norms_len, sq_codebook16 *out)
    sq_status sq_nearest_codewords16_prepared(const sq_codebook16 *codebook, const int16_t *z,
                                              int32_t n, const uint16_t *positions, int32_t k,
                                              uint16_t *indices)
    sq_status sq_encode16_prepared(const sq_graph16_prepared *prepared,
                                   const sq_codebook16 *codebook, const int16_t *constellation,
                                   const uint8_t *u, int32_t k, int16_t *scratch,
                                   int32_t scratch_elems, uint16_t *positions,
                                   uint16_t *indices, int16_t *iq)
    ctypedef struct sq_graph_prepared:
        int32_t graph_scratch_bytes
        int32_t encode_scratch_bytes
    ctypedef struct sq_codebook:
        int32_t order
        int32_t latent_dim
    sq_status sq_graph_prepare(const sq_graph *graph, sq_graph_prepared *prepared)
    int32_t sq_graph_packed_bytes(const sq_graph_prepared *prepared)
    sq_status sq_graph_pack(sq_graph_prepared *prepared, int8_t *buf, int32_t bytes)
    sq_status sq_graph_run_prepared(const sq_graph_prepared *prepared, const int8_t *q,
                                    int8_t *scratch, int32_t scratch_bytes, int8_t *z,
                                    int8_t *logit, int8_t *s)
    sq_status sq_codebook_prepare(const int8_t *codebook, int32_t m, int32_t d, int32_t *norms,
                                  int32_t norms_len, sq_codebook *out)
    sq_status sq_nearest_codewords_prepared(const sq_codebook *codebook, const int8_t *z,
                                            int32_t n, const uint16_t *positions, int32_t k,
                                            uint16_t *indices)
    const char *sq_port_name(int32_t port)
    int32_t sq_port_active()
    enum:
        SQ_PORT_COUNT
    sq_status sq_port_available(int32_t port, const char **why)
    sq_status sq_port_select(int32_t port)
    sq_status sq_bitmap_positions(const uint8_t *bitmap, int32_t bitmap_bytes, int32_t n,
                                  uint16_t *positions, int32_t capacity, int32_t *k)


# The link layer (``csrc/link/sq_link.h``): the C framing the MCU firmware runs.
cdef extern from "sq_link.h" nogil:
    ctypedef int32_t sql_status
    enum:
        SQL_OK
        SQL_MAX_PAYLOAD
        SQL_OVERHEAD
        SQL_MAX_RAW
        SQL_MAX_WIRE
        SQL_EV_NONE
        SQL_EV_FRAME
        SQL_EV_OVERSIZED
        SQL_EV_BAD_LENGTH
        SQL_ERR_COBS

    ctypedef struct sql_counters:
        uint32_t bytes_rx
        uint32_t frames_ok
        uint32_t crc_errors
        uint32_t cobs_errors
        uint32_t runts
        uint32_t length_errors
        uint32_t oversized
        uint32_t empty
        uint32_t garbage_bytes

    ctypedef struct sql_event:
        int32_t kind
        uint8_t version
        uint8_t type
        uint16_t seq
        int32_t has_header
        const uint8_t *payload
        int32_t len
        uint32_t size

    ctypedef struct sql_decoder:
        int32_t len
        int32_t max_payload
        int32_t max_encoded
        uint32_t overflow
        sql_counters c

    uint32_t sql_crc32(const uint8_t *data, size_t n)
    sql_status sql_cobs_encode(const uint8_t *inp, int32_t n, uint8_t *out, int32_t cap,
                               int32_t *out_len)
    sql_status sql_cobs_decode(const uint8_t *inp, int32_t n, uint8_t *out, int32_t cap,
                               int32_t *out_len)
    sql_status sql_frame_encode(uint8_t version, uint8_t type, uint16_t seq,
                                const uint8_t *payload, int32_t len, uint8_t *raw,
                                int32_t raw_cap, uint8_t *out, int32_t out_cap,
                                int32_t *out_len)
    sql_status sql_decoder_init(sql_decoder *dec, int32_t max_payload)
    sql_status sql_decoder_feed_buf(sql_decoder *dec, const uint8_t *data, int32_t n,
                                    int32_t *used, sql_event *ev)
    void sql_decoder_reset_counters(sql_decoder *dec)
    uint32_t sql_decoder_dropped(const sql_decoder *dec)
