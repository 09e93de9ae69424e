/* The narrow float formats against references built here from their
 * definitions (sign, exponent bias, mantissa width), exhaustively where the
 * format is small enough.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <stdlib.h>

#include "fa-cpu-kernels.h"
#include "fa-dtype.h"
#include "fa-half.h"
#include "fa-test-util.h"

typedef struct {
  int exponent_bits, mantissa_bits, bias;
  gboolean has_infinity; /* IEEE-style top exponent; e4m3fn has none */
} Format;

static const Format f16_format = { 5, 10, 15, TRUE };
static const Format bf16_format = { 8, 7, 127, TRUE };
static const Format e4m3_format = { 4, 3, 7, FALSE };
static const Format e5m2_format = { 5, 2, 15, TRUE };

/* Decode by definition, in double. */
static double
reference_decode (const Format *f, guint32 code)
{
  int total = 1 + f->exponent_bits + f->mantissa_bits;
  guint32 sign = (code >> (total - 1)) & 1;
  guint32 exponent = (code >> f->mantissa_bits) & ((1u << f->exponent_bits) - 1);
  guint32 mantissa = code & ((1u << f->mantissa_bits) - 1);
  guint32 top = (1u << f->exponent_bits) - 1;
  double v;

  if (f->has_infinity && exponent == top)
    v = mantissa ? NAN : INFINITY;
  else if (!f->has_infinity && exponent == top && mantissa == (1u << f->mantissa_bits) - 1)
    v = NAN;
  else if (exponent == 0)
    v = ldexp ((double) mantissa, 1 - f->bias - f->mantissa_bits);
  else
    v = ldexp (1.0 + ldexp ((double) mantissa, -f->mantissa_bits), (int) exponent - f->bias);
  return sign ? -v : v;
}

/* Nearest non-negative finite code to |x|, ties to the even code. */
static guint32
reference_encode_magnitude (const Format *f, double x, guint32 max_finite)
{
  guint32 lo = 0, hi = max_finite;

  if (x >= reference_decode (f, max_finite))
    return max_finite;
  while (hi - lo > 1) /* codes of a sign are ordered like their values */
    {
      guint32 mid = (lo + hi) / 2;
      if (reference_decode (f, mid) <= x)
        lo = mid;
      else
        hi = mid;
    }
  double dlo = x - reference_decode (f, lo), dhi = reference_decode (f, hi) - x;
  if (dlo < dhi)
    return lo;
  if (dhi < dlo)
    return hi;
  return (lo & 1) ? hi : lo;
}

static void
test_f16_exhaustive (void)
{
  for (guint32 code = 0; code < 65536; code++)
    {
      double ref = reference_decode (&f16_format, code);
      float got = fa_f16_to_f32 ((guint16) code);
      if (isnan (ref))
        {
          g_assert_true (isnan (got));
          g_assert_true ((fa_f32_to_f16 (got) & 0x7fff) > 0x7c00);
          continue;
        }
      g_assert_cmpfloat (got, ==, ref);
      g_assert_cmpuint (fa_f32_to_f16 (got), ==, code); /* round trip is the identity */
    }
}

static void
check_f32_to_f16 (float x)
{
  double max = reference_decode (&f16_format, 0x7bff);
  double half_ulp_above_max = 65520.0;
  guint16 expected;
  double mag = fabs ((double) x);

  if (mag >= half_ulp_above_max)
    expected = 0x7c00;
  else if (mag >= max)
    expected = 0x7bff;
  else
    expected = (guint16) reference_encode_magnitude (&f16_format, mag, 0x7bff);
  if (signbit (x))
    expected |= 0x8000;
  if (fa_f32_to_f16 (x) != expected)
    g_error ("f32 %.9g → f16 0x%04x, expected 0x%04x", x, fa_f32_to_f16 (x), expected);
}

static void
test_f32_to_f16_rounding (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (1234);

  /* every midpoint between neighbouring f16 values: ties go to even */
  for (guint32 code = 0; code < 0x7bff; code++)
    {
      double mid = (reference_decode (&f16_format, code) + reference_decode (&f16_format, code + 1)) / 2;
      check_f32_to_f16 ((float) mid);
      check_f32_to_f16 (-(float) mid);
    }
  /* random values across the whole range, subnormals included */
  for (int i = 0; i < 200000; i++)
    {
      float x = (float) ldexp (g_rand_double_range (rand, 1.0, 2.0), g_rand_int_range (rand, -30, 17));
      check_f32_to_f16 (g_rand_boolean (rand) ? x : -x);
    }
  check_f32_to_f16 (65519.996f);
  check_f32_to_f16 (65520.0f);
  check_f32_to_f16 (1e30f);
  g_assert_cmpuint (fa_f32_to_f16 (INFINITY), ==, 0x7c00);
  g_assert_cmpuint (fa_f32_to_f16 (-0.0f), ==, 0x8000);
}

static void
test_bf16 (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (99);

  for (guint32 code = 0; code < 65536; code++)
    {
      double ref = reference_decode (&bf16_format, code);
      float got = fa_bf16_to_f32 ((guint16) code);
      if (isnan (ref))
        {
          g_assert_true (isnan (got));
          g_assert_true (isnan (fa_bf16_to_f32 (fa_f32_to_bf16 (got))));
          continue;
        }
      g_assert_cmpfloat (got, ==, ref);
      g_assert_cmpuint (fa_f32_to_bf16 (got), ==, code);
    }
  for (int i = 0; i < 200000; i++)
    {
      float x = (float) ldexp (g_rand_double_range (rand, 1.0, 2.0), g_rand_int_range (rand, -130, 127));
      guint32 expected = reference_encode_magnitude (&bf16_format, x, 0x7f7f);
      /* beyond the largest bf16, half an ulp up rounds to infinity */
      if (x >= 3.3961775292304046e38)
        expected = 0x7f80;
      g_assert_cmpuint (fa_f32_to_bf16 (x), ==, expected);
      g_assert_cmpuint (fa_f32_to_bf16 (-x), ==, expected | 0x8000);
    }
}

static void
test_f8_e4m3 (void)
{
  for (guint32 code = 0; code < 256; code++)
    {
      double ref = reference_decode (&e4m3_format, code);
      float got = fa_f8e4m3_to_f32 ((guint8) code);
      if (isnan (ref))
        {
          g_assert_true (isnan (got));
          continue;
        }
      g_assert_cmpfloat (got, ==, ref);
      g_assert_cmpuint (fa_f32_to_f8e4m3 (got), ==, code);
    }
  /* every midpoint and a sweep of values: nearest, ties to even */
  for (guint32 code = 0; code < 0x7e; code++)
    {
      double mid = (reference_decode (&e4m3_format, code) + reference_decode (&e4m3_format, code + 1)) / 2;
      g_assert_cmpuint (fa_f32_to_f8e4m3 ((float) mid), ==, reference_encode_magnitude (&e4m3_format, mid, 0x7e));
    }
  for (double x = 0.0; x < 500.0; x += 0.0137)
    g_assert_cmpuint (fa_f32_to_f8e4m3 ((float) x), ==, reference_encode_magnitude (&e4m3_format, x, 0x7e));

  g_assert_cmpfloat (fa_f8e4m3_to_f32 (0x38), ==, 1.0f);
  g_assert_cmpfloat (fa_f8e4m3_to_f32 (0x7e), ==, 448.0f);
  g_assert_cmpfloat (fa_f8e4m3_to_f32 (0x01), ==, 1.0f / 512);
  g_assert_cmpuint (fa_f32_to_f8e4m3 (1e6f), ==, 0x7e);  /* saturates: no infinity in e4m3fn */
  g_assert_cmpuint (fa_f32_to_f8e4m3 (-1e6f), ==, 0xfe);
  g_assert_true (isnan (fa_f8e4m3_to_f32 (fa_f32_to_f8e4m3 (NAN))));
}

static void
test_f8_e5m2 (void)
{
  for (guint32 code = 0; code < 256; code++)
    {
      double ref = reference_decode (&e5m2_format, code);
      float got = fa_f8e5m2_to_f32 ((guint8) code);
      if (isnan (ref))
        {
          g_assert_true (isnan (got));
          continue;
        }
      g_assert_cmpfloat (got, ==, ref);
      g_assert_cmpuint (fa_f32_to_f8e5m2 (got), ==, code);
    }
}

static void
test_names (void)
{
  FaDType dtype;

  for (int i = 0; i < FA_DTYPE_COUNT; i++)
    {
      g_assert_true (fa_dtype_from_safetensors_name (fa_dtype_get_safetensors_name (i), &dtype));
      g_assert_cmpint (dtype, ==, i);
      g_assert_cmpuint (fa_dtype_size (i), >, 0);
    }
  g_assert_false (fa_dtype_from_safetensors_name ("F7", &dtype));
  g_assert_false (fa_dtype_from_safetensors_name ("f32", &dtype)); /* the header spelling is upper case */
  g_assert_cmpstr (fa_dtype_get_name (FA_DTYPE_F8_E4M3), ==, "f8_e4m3");
  g_assert_cmpuint (fa_dtype_size (FA_DTYPE_BF16), ==, 2);
  g_assert_cmpuint (fa_dtype_size (FA_DTYPE_I64), ==, 8);
}

static void
test_integer_conversions (void)
{
  const gint64 big[] = { 5, -7, G_MAXINT64, G_MININT64, 1LL << 40 };
  gint32 small[5];
  const float floats[] = { -3.6f, 0.4f, 254.5f, 300.0f, NAN };
  guint8 bytes[5];

  g_assert_cmpint (fa_cpu_convert (big, FA_DTYPE_I64, small, FA_DTYPE_I32, 5), ==, 0);
  g_assert_cmpint (small[0], ==, 5);
  g_assert_cmpint (small[1], ==, -7);
  g_assert_cmpint (small[2], ==, G_MAXINT32);
  g_assert_cmpint (small[3], ==, G_MININT32);
  g_assert_cmpint (small[4], ==, G_MAXINT32);

  g_assert_cmpint (fa_cpu_convert (floats, FA_DTYPE_F32, bytes, FA_DTYPE_U8, 5), ==, 0);
  g_assert_cmpuint (bytes[0], ==, 0);
  g_assert_cmpuint (bytes[1], ==, 0);
  g_assert_cmpuint (bytes[2], ==, 254); /* ties to even */
  g_assert_cmpuint (bytes[3], ==, 255);
  g_assert_cmpuint (bytes[4], ==, 0);

  g_assert_cmpint (fa_cpu_convert (floats, FA_DTYPE_F32, bytes, FA_DTYPE_COUNT, 5), ==, -1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/dtype/f16-exhaustive", test_f16_exhaustive);
  g_test_add_func ("/dtype/f32-to-f16-rounding", test_f32_to_f16_rounding);
  g_test_add_func ("/dtype/bf16", test_bf16);
  g_test_add_func ("/dtype/f8-e4m3", test_f8_e4m3);
  g_test_add_func ("/dtype/f8-e5m2", test_f8_e5m2);
  g_test_add_func ("/dtype/names", test_names);
  g_test_add_func ("/dtype/integer-conversions", test_integer_conversions);

  return g_test_run ();
}
