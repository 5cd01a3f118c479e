"""Our own local stand-in for the Lambda base image, for `make image-test` where neither the
real base (public.ecr.aws/lambda/python:3.12, from a registry this machine cannot reach) nor the
workplace's stand-in script (../shared/tools/lambda-base-standin.sh) is there, as on a CI
machine that clones the project elsewhere.

It keeps the base image's contract, which is all the image and the test rely on: Python in
/var/lang/bin, LAMBDA_TASK_ROOT=/var/task as the working directory, the runtime interface
client (awslambdaric) in /var/runtime apart from the site-packages pip installs into, the
Runtime Interface Emulator (from the aws-sam-cli wheel in .venv-tools) at
/usr/local/bin/aws-lambda-rie, and an /lambda-entrypoint.sh that takes the handler and runs the
bootstrap under the emulator unless AWS_LAMBDA_RUNTIME_API says a runtime API is already there.
It differs in being Debian bookworm with its Python 3.11 (the tests' Python), not Amazon Linux
with 3.12. The image is labelled as a stand-in, so nothing mistakes it for the real one.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

WORK = Path("/var/tmp/caption-lambda-standin")
SUITE = "bookworm"
RIC = "awslambdaric==4.2.2"
LABEL = "LOCAL STAND-IN for the AWS Lambda Python base image (Debian, Python 3.11)"

ENTRYPOINT = """#!/bin/sh
# The base image's entrypoint contract: one argument, the handler.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie /var/runtime/bootstrap
fi
exec /var/runtime/bootstrap
"""

BOOTSTRAP = """#!/bin/sh
# The runtime interface client on the handler in $_HANDLER, from the task root.
export PYTHONPATH="/var/runtime${PYTHONPATH:+:$PYTHONPATH}"
cd "${LAMBDA_TASK_ROOT:-/var/task}" || exit 1
exec /var/lang/bin/python -m awslambdaric "$_HANDLER"
"""


# pip inside the image trusts this machine's CA bundle (copied in), as pip on the machine does.
PIP_CONF = "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n"


def _containerfile(rootfs_image: str) -> str:
    return f"""FROM {rootfs_image}
LABEL org.opencontainers.image.description="{LABEL}"
ENV LANG=C.UTF-8 \\
    TZ=:/etc/localtime \\
    PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin \\
    LAMBDA_TASK_ROOT=/var/task \\
    LAMBDA_RUNTIME_DIR=/var/runtime
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY aws-lambda-rie /usr/local/bin/aws-lambda-rie
COPY lambda-entrypoint.sh /lambda-entrypoint.sh
COPY bootstrap /var/runtime/bootstrap
RUN python3 -m venv /var/lang \\
 && PIP_CERT=/etc/ssl/certs/ca-certificates.crt /var/lang/bin/pip install --no-cache-dir -q \\
      --target /var/runtime {RIC} \\
 && mkdir -p /var/task
COPY pip.conf /etc/pip.conf
WORKDIR /var/task
ENTRYPOINT ["/lambda-entrypoint.sh"]
"""


def _apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (debootstrap fetches from it)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in path.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    listing = Path("/etc/apt/sources.list")
    if listing.exists():
        for line in listing.read_text().splitlines():
            parts = line.split()
            if len(parts) > 1 and parts[0] == "deb" and "security" not in parts[1]:
                return parts[1]
    return "http://deb.debian.org/debian"


def build(engine: list[str], tag: str, rie: Path, limits: list[str], arch: str = "amd64"
          ) -> None:
    """Build the stand-in image and tag it `tag` (the real base's name); raises
    CalledProcessError with the failing step's output on stderr. arch: Debian's name for the
    platform (amd64, arm64); another than this machine's needs QEMU's binfmt emulation."""
    rootfs = WORK / f"rootfs-{SUITE}-{arch}"
    done = rootfs / ".complete"
    if not done.exists():
        shutil.rmtree(rootfs, ignore_errors=True)
        subprocess.run(["debootstrap", f"--arch={arch}", "--variant=minbase",
                        "--include=ca-certificates,python3,python3-venv", SUITE, str(rootfs),
                        _apt_mirror()], check=True, stdout=subprocess.DEVNULL)
        # the downloaded packages and indexes: about 95 MB no image needs
        for leftover in (*rootfs.glob("var/cache/apt/archives/*.deb"),
                         *rootfs.glob("var/lib/apt/lists/*")):
            if leftover.is_file():
                leftover.unlink()
        done.touch()
    rootfs_image = f"localhost/caption-lambda-standin-rootfs:{SUITE}-{arch}"
    archive = subprocess.Popen(["tar", "--exclude=./.complete", "-C", str(rootfs), "-c", "."],
                               stdout=subprocess.PIPE)
    subprocess.run([*engine, "import", "--arch", arch, "-", rootfs_image], stdin=archive.stdout,
                   check=True,
                   stdout=subprocess.DEVNULL)
    archive.wait()
    context = WORK / f"context-{arch}"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    shutil.copy(rie, context / "aws-lambda-rie")
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", context / "ca-certificates.crt")
    for name, text in (("lambda-entrypoint.sh", ENTRYPOINT), ("bootstrap", BOOTSTRAP),
                       ("pip.conf", PIP_CONF),
                       ("Containerfile", _containerfile(rootfs_image))):
        (context / name).write_text(text)
    for name in ("aws-lambda-rie", "lambda-entrypoint.sh", "bootstrap"):
        (context / name).chmod(0o755)
    subprocess.run([*engine, "build", "--platform", f"linux/{arch}", "--network", "host", *limits,
                    "-t", tag, str(context)], check=True)
