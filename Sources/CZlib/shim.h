// Thin shim over zlib (Debian: zlib1g-dev). Not API: only the MetaOpt target imports it, and no
// C type leaves that target's public interface. inflateInit2/deflateInit2 are C macros, so they
// are exposed through static inline functions.
#ifndef METAOPT_ZLIB_SHIM_H
#define METAOPT_ZLIB_SHIM_H
#include <zlib.h>

/// Starts inflating a gzip or zlib stream (header detected automatically).
static inline int metaopt_inflate_init(z_stream *stream) {
    return inflateInit2(stream, 15 + 32);
}

/// Starts deflating into a gzip stream (used to write test files).
static inline int metaopt_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
#endif
