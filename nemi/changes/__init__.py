"""Change curves: how much the picture changes between neighbouring frames (HOG) or snippets (CNN)."""
