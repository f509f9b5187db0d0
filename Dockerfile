# CPU image: Debian 11's BVLC Caffe 1.0 + pycaffe (Python 3.9) + the pipeline's
# dependencies. Build:  docker build -t localhost/micro-attention .
# (without a Docker engine: .ci/build-image, which uses podman).
FROM debian:bullseye

# Debian 11 is the last release that packages Caffe. Point DEBIAN_MIRROR at
# http://archive.debian.org/debian once bullseye leaves the main mirrors.
ARG DEBIAN_MIRROR=http://deb.debian.org/debian
ARG DEBIAN_FRONTEND=noninteractive

# Only the bullseye main suite, whose final point release no longer changes:
# together with the pinned versions below a rebuild gives the same packages.
RUN rm -f /etc/apt/sources.list.d/* \
 && echo "deb ${DEBIAN_MIRROR} bullseye main" > /etc/apt/sources.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      caffe=1.0.0+git20180821.99bd997-8+b2 \
      python3-caffe=1.0.0+git20180821.99bd997-8+b2 \
      libcaffe1=1.0.0+git20180821.99bd997-8+b2 \
      libopenblas0-pthread=0.3.13+ds-3+deb11u1 \
      python3-lmdb=1.0.0-1+b1 \
      python3-opencv=4.5.1+dfsg-5 \
      opencv-data=4.5.1+dfsg-5 \
      python3-sklearn=0.23.2-5 \
      python3-pandas=1.1.5+dfsg-2 \
      python3-openpyxl=3.0.3-1 \
      python3-matplotlib=3.3.4-1 \
      python3-scipy=1.6.0-2 \
      python3-pil=8.1.2+dfsg-0.3+deb11u2 \
      python3-tqdm=4.57.0-2 \
      python3-pytest=6.0.2-2 \
      python3-pip=20.3.4-4+deb11u1 \
      python3-setuptools=52.0.0-4 \
      python3-wheel=0.34.2-1 \
 && rm -rf /var/lib/apt/lists/*

# Optional extra CA certificates (corporate TLS interception of PyPI):
# drop *.crt files into certs/ before building. Empty folder = no change.
COPY certs/ /usr/local/share/ca-certificates/extra/
RUN update-ca-certificates

COPY requirements-pip.txt /tmp/requirements-pip.txt
RUN pip3 install --no-cache-dir --no-deps --no-build-isolation --require-hashes \
      -r /tmp/requirements-pip.txt \
 && pip3 check \
 && rm /tmp/requirements-pip.txt

ENV MA_HOME=/opt/micro-attention \
    MA_WEIGHTS_DIR=/workspace/weights
ENV PYTHONPATH=/opt/micro-attention/python \
    PATH=/opt/micro-attention/tools:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    GLOG_logtostderr=1

RUN useradd --create-home --uid 1000 --shell /bin/bash researcher \
 && mkdir -p /workspace && chown researcher:researcher /workspace

COPY --chown=root:root . /opt/micro-attention
# The extra certificates are baked in above; they don't belong in the project copy.
RUN rm -f /opt/micro-attention/certs/*.crt

USER researcher
WORKDIR /workspace
VOLUME /workspace
CMD ["python3", "-m", "microattention", "--help"]
