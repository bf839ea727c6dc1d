"""`python -m fer_core ...`"""
import sys

from fer_core.common.packages import missing_package, missing_package_message

try:
    from fer_core.cli import main
except ModuleNotFoundError as exc:  # the wrong Python, or an unfinished install: one line, no traceback
    if missing_package(exc) is None:
        raise
    print("error: " + missing_package_message(missing_package(exc)), file=sys.stderr)
    sys.exit(2)

sys.exit(main())
