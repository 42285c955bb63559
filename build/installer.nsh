; NSIS additions: start Rollcall at login for all users (HKLM Run key), removed on uninstall.
!macro customInstall
  WriteRegStr HKLM "Software\Microsoft\Windows\CurrentVersion\Run" "Rollcall" '"$INSTDIR\Rollcall.exe"'
!macroend
!macro customUnInstall
  DeleteRegValue HKLM "Software\Microsoft\Windows\CurrentVersion\Run" "Rollcall"
!macroend
