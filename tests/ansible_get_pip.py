"""Stands in for ansible-test's pip bootstrap script (get-pip.py from ci-files.testing.ansible.com,
out of reach here): the interpreter's own ensurepip, then the pip version asked for from the
package index. ansible-test runs it as `python quiet_pip.py <pip options> pip==X`."""

import subprocess
import sys

# In a process of its own: ensurepip turns pip's configuration (the package index) off in its environment.
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
