"""pointad: 3D point-cloud anomaly synthesis (3D-PNAS) and detection for industrial inspection."""
import os as _os

__version__ = "0.1.0"

# numba tries Intel TBB first and warns when a wheel ships an older TBB; OpenMP does the same work.
_os.environ.setdefault("NUMBA_THREADING_LAYER_PRIORITY", "omp workqueue tbb")
