app-title = tillpoint 收银台
