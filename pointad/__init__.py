"""pointad: 3D point-cloud anomaly synthesis (3D-PNAS) and detection for industrial inspection."""

__version__ = "0.1.0"
