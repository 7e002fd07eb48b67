"""The local stack: the services ``smartstack up`` runs, and how it starts and stops them."""
