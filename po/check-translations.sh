#!/bin/sh
# check-translations.sh SRCROOT: the `translations` test. Fails when
#  - a file in po/POTFILES.in is missing, or a source file with translatable
#    strings (app/*.c, ui/*.ui and the data/ files; app/cli/ is not
#    translated) is not listed there;
#  - a user-visible string in app/*.c or ui/*.ui is not marked for
#    translation (the common setters with a bare literal, .ui properties
#    without translatable="yes"; translatable="no" opts out);
#  - a language in po/LINGUAS has no .po, or its .po does not compile
#    cleanly (msgfmt --check, accelerators included), or lacks a
#    translation for any string of the sources, or has fuzzy or
#    untranslated entries.
# Exits 77 (skipped) when the gettext tools are not installed.
# SPDX-License-Identifier: GPL-3.0-or-later
set -u

srcroot=$(cd "${1:-$(dirname "$0")/..}" && pwd)
podir=$srcroot/po

for tool in xgettext msgfmt msgcmp msgmerge msgattrib perl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: $tool is not installed (Debian: gettext, perl)"
    exit 77
  fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

fail () {
  echo "FAIL: $*"
  failed=1
}

listed=$tmp/listed
sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$podir/POTFILES.in" | sort > "$listed"

# --- POTFILES.in: every entry exists, every file with strings is listed ---
while read -r file; do
  [ -f "$srcroot/$file" ] || fail "po/POTFILES.in lists $file, which does not exist"
done < "$listed"

cd "$srcroot" || exit 1
for file in app/*.c ui/*.ui data/*.desktop.in data/*.metainfo.xml.in data/*.gschema.xml; do
  [ -f "$file" ] || continue
  grep -qxF "$file" "$listed" && continue
  if ! "$podir/make-pot.sh" "$srcroot" "$tmp/one.pot" "$file" 2>"$tmp/one.err"; then
    fail "xgettext cannot read $file: $(cat "$tmp/one.err")"
    continue
  fi
  n=$(grep -c '^msgid ' "$tmp/one.pot")
  [ "$n" -le 1 ] || fail "$file has $((n - 1)) translatable strings but is not in po/POTFILES.in"
done

# --- user-visible strings that are not marked ---
# C: a literal with letters straight into a setter that shows text (""
# clears, "0:00" holds no words). Whole files are read so that calls
# spanning lines count.
perl -0777 -ne '
  my $setters = qr/gtk_label_set_(?:text|label|markup)|gtk_button_set_label|gtk_window_set_title
    |gtk_widget_set_tooltip_(?:text|markup)|gtk_entry_set_placeholder_text|gtk_check_button_set_label
    |gtk_menu_button_set_label|gtk_file_filter_set_name|gtk_frame_set_label
    |adw_(?:window_title|preferences_row|preferences_group|preferences_page|status_page|action_row
          |expander_row|combo_row|toast|message_dialog|split_button|button_content|entry_row)_set_
          (?:title|subtitle|description|heading|body|label|button_label|tooltip_text)
    |adw_toast_set_button_label|_fa_window_show_error|_fa_window_toast|fa_timeline_set_progress/x;
  while (/\b($setters)\s*\(\s*[^;"]*?,\s*"(?=[^"\\]*[A-Za-z])/g) {
    my $line = 1 + (substr($_, 0, pos($_)) =~ tr/\n//);
    print "$ARGV:$line: $1 gets a literal; wrap it in _()\n";
  }
  while (/\b(adw_toast_new|g_menu_item_new|gtk_label_new|gtk_button_new_with_label
             |gtk_button_new_with_mnemonic|gtk_check_button_new_with_label)\s*\(\s*"(?=[^"\\]*[A-Za-z])/gx) {
    my $line = 1 + (substr($_, 0, pos($_)) =~ tr/\n//);
    print "$ARGV:$line: $1 gets a literal; wrap it in _()\n";
  }
  while (/\b(g_menu_(?:append|prepend|insert(?:_section|_submenu)?|append_section|append_submenu))
           \s*\(\s*[^;"]*?,\s*(?:-?\d+\s*,\s*)?"(?=[^"\\]*[A-Za-z])/gx) {
    my $line = 1 + (substr($_, 0, pos($_)) =~ tr/\n//);
    print "$ARGV:$line: $1 gets a literal; wrap it in _()\n";
  }
  while (/\badw_message_dialog_add_response\s*\([^,;]*,\s*"[^"]*"\s*,\s*"(?=[^"\\]*[A-Za-z])/g) {
    my $line = 1 + (substr($_, 0, pos($_)) =~ tr/\n//);
    print "$ARGV:$line: adw_message_dialog_add_response gets a literal label; wrap it in _()\n";
  }
' app/*.c | sort -t: -k1,1 -k2,2n > "$tmp/lint"
# .ui: a text property, menu label or string-list item with letters but
# neither translatable="yes" nor translatable="no".
perl -0777 -ne '
  my $props = qr/label|title|subtitle|tooltip-text|tooltip-markup|placeholder-text|description|text
    |heading|body|button-label|secondary-text|primary-text|accessible-label/x;
  for my $re (qr/<(?:property|attribute)\s+name="(?:$props)"(?![^>]*\btranslatable=)[^>]*>[^<]*[A-Za-z]/,
              qr/<item(?![^>]*\btranslatable=)(?:\s[^>]*)?>[^<]*[A-Za-z]/) {
    while (/$re/g) {
      my $line = 1 + (substr($_, 0, pos($_)) =~ tr/\n//);
      print "$ARGV:$line: a visible string without translatable=\"yes\" (or translatable=\"no\" when it is not text)\n";
    }
  }
' ui/*.ui | sort -t: -k1,1 -k2,2n >> "$tmp/lint"
if [ -s "$tmp/lint" ]; then
  sed 's/^/FAIL: /' "$tmp/lint"
  failed=1
fi

# --- the template and each language ---
if ! "$podir/make-pot.sh" "$srcroot" "$tmp/flowanchor.pot" 2>"$tmp/pot.err"; then
  fail "xgettext failed: $(cat "$tmp/pot.err")"
else
  total=$(($(grep -c '^msgid ' "$tmp/flowanchor.pot") - 1))
  echo "template: $total strings from $(wc -l < "$listed") files"
fi

langs=$(sed -e 's/#.*//' "$podir/LINGUAS")
[ -n "$langs" ] || echo "po/LINGUAS names no language"
for lang in $langs; do
  po=$podir/$lang.po
  if [ ! -f "$po" ]; then
    fail "po/LINGUAS names $lang but po/$lang.po does not exist (run po/update-translations.sh $lang)"
    continue
  fi
  # --check: formats, header, plural forms; accelerators: one _ for one _.
  if ! LC_ALL=C msgfmt --check --check-accelerators=_ --statistics -o /dev/null "$po" > "$tmp/stats" 2>&1; then
    fail "po/$lang.po does not compile cleanly:"
    sed 's/^/  /' "$tmp/stats"
    continue
  fi
  stats=$(tail -n 1 "$tmp/stats")
  echo "$lang: $stats"
  case $stats in
    *fuzzy*|*untranslated*) fail "po/$lang.po has fuzzy or untranslated entries: $stats" ;;
  esac
  [ -f "$tmp/flowanchor.pot" ] || continue
  # Every string of the sources must have a (non-fuzzy) translation.
  if ! msgcmp "$po" "$tmp/flowanchor.pot" > "$tmp/cmp" 2>&1; then
    fail "po/$lang.po lacks strings of the sources (run po/update-translations.sh and translate them):"
    msgmerge --quiet --no-fuzzy-matching -o "$tmp/merged.po" "$po" "$tmp/flowanchor.pot"
    for kind in untranslated only-fuzzy; do
      msgattrib --"$kind" --no-obsolete --no-location --no-wrap "$tmp/merged.po" \
        | sed -n 's/^msgid "\(..*\)"$/  '"${kind#only-}"': \1/p' | head -n 40
    done
  fi
done

[ "$failed" -eq 0 ] && echo "translations: OK"
exit "$failed"
