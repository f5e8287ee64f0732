"""cmp-server: self-hosted cookie consent platform.

The package face holds only what imports nothing heavy: the app is built by the composition
root (``cmp_server.app.create_app``), so that ``import cmp_server.errors`` or the services do
not load the admin, the worker or the browser.
"""

from .settings import Settings

__version__ = "0.1.0"

__all__ = ["Settings", "__version__"]
