"""Device drivers (MFRC522, MLX90614, GPIO parts) and their bus emulators. Never imports `gate`."""
