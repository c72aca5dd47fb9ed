"""Quality and speed measurements: PSNR/SSIM (literature protocol), SWD, MS-SSIM, FID/KID, timing."""
