"""Server-rendered pages for people who will not install an app."""
