/* fa-half.h: scalar conversions between float32 and the 16- and 8-bit
 * float formats of checkpoints (bf16, f16, f8 e4m3fn, f8 e5m2).
 *
 * All rounding is to nearest, ties to even, as PyTorch does when it casts.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdint.h>
#include <string.h>

static inline uint32_t
fa_f32_bits (float f)
{
  uint32_t u;
  memcpy (&u, &f, sizeof u);
  return u;
}

static inline float
fa_f32_from_bits (uint32_t u)
{
  float f;
  memcpy (&f, &u, sizeof f);
  return f;
}

static inline float
fa_bf16_to_f32 (uint16_t h)
{
  return fa_f32_from_bits ((uint32_t) h << 16);
}

static inline uint16_t
fa_f32_to_bf16 (float f)
{
  uint32_t u = fa_f32_bits (f);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t) ((u >> 16) | 0x0040u); /* keep NaN a NaN (quiet) */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t) (u >> 16);
}

static inline float
fa_f16_to_f32 (uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;

  if (exponent == 0)
    {
      /* zero or subnormal: mantissa · 2^-24, exact in float32 */
      float v = (float) mantissa * (1.0f / 16777216.0f);
      return sign ? -v : v;
    }
  if (exponent == 31)
    return fa_f32_from_bits (sign | 0x7f800000u | (mantissa << 13));
  return fa_f32_from_bits (sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

static inline uint16_t
fa_f32_to_f16 (float f)
{
  uint32_t x = fa_f32_bits (f);
  uint16_t sign = (uint16_t) ((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;

  if (x >= 0x7f800000u)
    return sign | (x > 0x7f800000u ? 0x7e00u : 0x7c00u);
  if (x >= 0x477ff000u) /* 65520 and above round to infinity */
    return sign | 0x7c00u;
  if (x < 0x38800000u)
    {
      /* f16 subnormal range: round mantissa · 2^(e-150) to a multiple of 2^-24 */
      if (x < 0x33000000u) /* below 2^-25 (2^-25 itself ties to even zero) */
        return sign;
      uint32_t mantissa = (x & 0x7fffffu) | 0x800000u;
      uint32_t shift = 126u - (x >> 23);
      uint32_t r = mantissa >> shift;
      uint32_t rest = mantissa & ((1u << shift) - 1u);
      uint32_t half = 1u << (shift - 1u);
      if (rest > half || (rest == half && (r & 1u)))
        r++;
      return sign | (uint16_t) r;
    }
  x += 0xfffu + ((x >> 13) & 1u);
  return sign | (uint16_t) ((x - 0x38000000u) >> 13);
}

/* f8 e4m3fn: bias 7, no infinities, S.1111.111 is NaN, largest finite 448. */
static inline float
fa_f8e4m3_to_f32 (uint8_t b)
{
  uint32_t sign = (uint32_t) (b & 0x80u) << 24;
  uint32_t exponent = (b >> 3) & 0xfu;
  uint32_t mantissa = b & 0x7u;

  if (exponent == 0xfu && mantissa == 0x7u)
    return fa_f32_from_bits (sign | 0x7fc00000u);
  if (exponent == 0)
    {
      float v = (float) mantissa * (1.0f / 512.0f); /* mantissa/8 · 2^-6 */
      return sign ? -v : v;
    }
  return fa_f32_from_bits (sign | ((exponent + 120u) << 23) | (mantissa << 20));
}

/* Values beyond ±448 saturate to ±448 rather than becoming NaN: a scale
 * that overflows slightly should not poison a weight. */
static inline uint8_t
fa_f32_to_f8e4m3 (float f)
{
  uint32_t x = fa_f32_bits (f);
  uint8_t sign = (uint8_t) ((x >> 24) & 0x80u);
  x &= 0x7fffffffu;

  if (x > 0x7f800000u)
    return sign | 0x7fu;
  if (x >= 0x43e80000u) /* 464 and above: round-to-nearest would leave the range */
    return sign | 0x7eu;
  if (x < 0x3c800000u)
    {
      /* subnormal range of e4m3 (below 2^-6): multiples of 2^-9 */
      if (x < 0x3a000000u) /* below 2^-11 rounds to zero (2^-11 ties to even zero) */
        return sign;
      uint32_t mantissa = (x & 0x7fffffu) | 0x800000u;
      uint32_t shift = 141u - (x >> 23);
      uint32_t r = mantissa >> shift;
      uint32_t rest = mantissa & ((1u << shift) - 1u);
      uint32_t half = 1u << (shift - 1u);
      if (rest > half || (rest == half && (r & 1u)))
        r++;
      return sign | (uint8_t) r;
    }
  x += 0x7ffffu + ((x >> 20) & 1u);
  uint32_t r = (x - 0x3c000000u) >> 20;
  if (r > 0x7eu)
    r = 0x7eu;
  return sign | (uint8_t) r;
}

/* f8 e5m2 is the top byte of an f16. */
static inline float
fa_f8e5m2_to_f32 (uint8_t b)
{
  return fa_f16_to_f32 ((uint16_t) ((uint16_t) b << 8));
}

static inline uint8_t
fa_f32_to_f8e5m2 (float f)
{
  uint16_t h = fa_f32_to_f16 (f);
  if ((h & 0x7fffu) > 0x7c00u)
    return (uint8_t) ((h >> 8) | 0x02u);
  uint16_t r = (uint16_t) (h + 0x7fu + ((h >> 8) & 1u));
  return (uint8_t) (r >> 8);
}
