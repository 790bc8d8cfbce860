app-title = tillpoint
