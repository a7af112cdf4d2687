#!/bin/sh
# Fails if a C file differs from what clang-format (with .clang-format)
# makes of it, naming the files.  Skipped (exit 0, with a note) when
# clang-format is not installed.
top=${1:-.}
cd "$top" || exit 1
if ! command -v clang-format >/dev/null; then
	echo "check-format: clang-format not installed, skipped"
	exit 0
fi
bad=""
for f in $(git ls-files '*.c' '*.h' 2>/dev/null || find lib collector admin bench tests -name '*.[ch]'); do
	clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
	echo "check-format: not formatted with clang-format:$bad"
	exit 1
fi
echo "check-format: ok"
