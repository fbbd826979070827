process.env['FLOTILLA_TEST_MODE'] = 'embedded';
