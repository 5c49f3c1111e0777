#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection placed where ansible-test wants it
# (…/ansible_collections/sovereign/cluster). The copy holds what git would submit: tracked files
# and untracked files that are not ignored, so local build output never reaches the test.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dest="$repo/build/sanity/ansible_collections/sovereign/cluster"
rm -rf "$dest"
mkdir -p "$dest"
cd "$repo"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | rsync -a --from0 --files-from=- ./ "$dest/"
cd "$dest"
# ansible-test uses git to list files when it finds a repository; give it one of its own.
git init -q && git add -A && git -c user.email=ci@localhost -c user.name=ci commit -qm sanity
export HOME="${SOVEREIGN_TOOL_HOME:-$repo/build/home}"
mkdir -p "$HOME/.ansible/test/cache"
pip_version=$(python -c 'import re, ansible_test._internal.python_requirements as m, inspect; print(re.search(r"pip=.([0-9.]+)", inspect.getsource(m)).group(1))')
# ansible-test passes HOME but drops PIP_* variables: carry the caller's pip settings (CA bundle,
# proxy, an internal index mirror on an air-gapped site) into a pip.conf under that HOME.
mkdir -p "$HOME/.config/pip"
python - > "$HOME/.config/pip/pip.conf" <<'PY'
import os
print("[global]")
for key, value in sorted(os.environ.items()):
    if key.startswith("PIP_") and key != "PIP_BREAK_SYSTEM_PACKAGES":
        print(f"{key[4:].lower().replace('_', '-')} = {value}")
PY
cp "$repo/tests/sanity/get_pip_standin.py" "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
exec ansible-test sanity --color no --python 3.11 --venv --requirements "$@"
