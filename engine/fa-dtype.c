/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "fa-dtype.h"

static const struct {
  const char *name;
  const char *safetensors_name;
} dtype_names[FA_DTYPE_COUNT] = {
  [FA_DTYPE_F32] = { "f32", "F32" },
  [FA_DTYPE_F16] = { "f16", "F16" },
  [FA_DTYPE_BF16] = { "bf16", "BF16" },
  [FA_DTYPE_F8_E4M3] = { "f8_e4m3", "F8_E4M3" },
  [FA_DTYPE_I32] = { "i32", "I32" },
  [FA_DTYPE_I64] = { "i64", "I64" },
  [FA_DTYPE_U8] = { "u8", "U8" },
  [FA_DTYPE_F64] = { "f64", "F64" },
  [FA_DTYPE_F8_E5M2] = { "f8_e5m2", "F8_E5M2" },
  [FA_DTYPE_I8] = { "i8", "I8" },
  [FA_DTYPE_I16] = { "i16", "I16" },
  [FA_DTYPE_BOOL] = { "bool", "BOOL" },
};

const char *
fa_dtype_get_name (FaDType dtype)
{
  if ((unsigned) dtype >= FA_DTYPE_COUNT)
    return "invalid";
  return dtype_names[dtype].name;
}

const char *
fa_dtype_get_safetensors_name (FaDType dtype)
{
  if ((unsigned) dtype >= FA_DTYPE_COUNT)
    return "INVALID";
  return dtype_names[dtype].safetensors_name;
}

gboolean
fa_dtype_from_safetensors_name (const char *name, FaDType *out_dtype)
{
  g_return_val_if_fail (name != NULL, FALSE);

  for (unsigned i = 0; i < FA_DTYPE_COUNT; i++)
    if (g_str_equal (name, dtype_names[i].safetensors_name))
      {
        if (out_dtype != NULL)
          *out_dtype = (FaDType) i;
        return TRUE;
      }
  return FALSE;
}
