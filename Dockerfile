# openeyes service image: `openeyes serve` (BentoML + Gradio UI) as a non-root user.
#   CPU (default):  docker build -t openeyes .
#   CUDA:           docker build --build-arg TORCH_VARIANT=cu128 -t openeyes:cuda .
# Run: docker run -p 3000:3000 openeyes   (add -e OPENEYES_SERVE_API_KEY=... to require a bearer key)
FROM python:3.11-slim

ARG TORCH_VARIANT=cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    BENTOML_DO_NOT_TRACK=true \
    HF_HUB_OFFLINE=1 \
    OPENEYES_SERVE_WORKERS=1

RUN groupadd --gid 10001 openeyes && useradd --create-home --uid 10001 --gid 10001 openeyes
WORKDIR /app

# torch first, from the wheel index matching the variant (cpu or a CUDA tag such as cu128).
RUN pip install --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" torch==2.13.0

COPY . /app
RUN pip install "/app[serve]" && chown -R openeyes:openeyes /app

USER 10001:10001
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:3000/readyz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["openeyes", "serve", "--host", "0.0.0.0", "--port", "3000"]
