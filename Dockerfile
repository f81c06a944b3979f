# The image every Airflow service of docker-compose.yaml runs, and the Synapse emulator and the
# seed job: the official Airflow image plus our pinned requirements (the same set CI tests).
# The DAGs, plugins and package (include/) are mounted, not copied, so edits show at once.
FROM apache/airflow:3.3.2-python3.11
COPY requirements.txt constraints.txt /opt/htan/
RUN pip install --no-cache-dir -r /opt/htan/requirements.txt -c /opt/htan/constraints.txt
# Mount points of the named volumes, made here as the image's user (airflow, uid 50000): Docker
# copies their ownership into a new volume, so the services can write without running as root.
RUN mkdir -p /opt/airflow/htan-reports /opt/airflow/auth /opt/airflow/emulator-state
